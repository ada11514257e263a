import BulwarkAuth
import BulwarkCore
import BulwarkStore
import Foundation
import NIOHTTP1
import Synchronization

/// The admin API's second and third factors, on top of the listener's mandatory mTLS:
///
/// 1. every request carries the admin token (`Authorization: Bearer …`, the file
///    `DATA/keys/admin.token`, 0600), compared in constant time;
/// 2. destructive actions (revocations, disabling, kill switches, IP blocks, lifting bans,
///    removing MFA) need an operator TOTP step-up: an `X-Bulwark-TOTP` code from the operators'
///    factor (`bulwark admin totp enroll`) raises that operator certificate to stepped-up for
///    `stepUpTTLMs`, like `sudo`; each code works once.
final class AdminGuard: Sendable {
    enum Refusal: Equatable {
        case missingOrWrongToken
        case stepUpRequired
        case operatorTOTPNotEnrolled
        case totpInvalid

        var status: HTTPResponseStatus {
            switch self {
            case .missingOrWrongToken: .unauthorized
            case .stepUpRequired, .operatorTOTPNotEnrolled, .totpInvalid: .forbidden
            }
        }

        var code: String {
            switch self {
            case .missingOrWrongToken: "admin_token_required"
            case .stepUpRequired: "totp_step_up_required"
            case .operatorTOTPNotEnrolled: "operator_totp_not_enrolled"
            case .totpInvalid: "totp_invalid"
            }
        }
    }

    static let stepUpTTLMs: Int64 = 5 * 60_000
    private let token: [UInt8]
    private let store: any Store
    private let secretBox: @Sendable () throws -> SecretBox
    private let clock: any WallClock
    /// Stepped-up operators (certificate fingerprint → until when).
    private let steppedUp = Mutex<[String: Int64]>([:])

    init(token: String, store: any Store, secretBox: @escaping @Sendable () throws -> SecretBox, clock: any WallClock) {
        self.token = Array(token.utf8)
        self.store = store
        self.secretBox = secretBox
        self.clock = clock
    }

    /// Checks a request; nil means it may proceed.
    func check(_ head: HTTPRequestHead, path parts: [String], operatorID: String) -> Refusal? {
        let presented = head.headers["Authorization"].first.flatMap { value -> [UInt8]? in
            guard value.hasPrefix("Bearer ") else { return nil }
            return Array(value.dropFirst("Bearer ".count).utf8)
        }
        guard let presented, ConstantTime.equals(presented, token) else { return .missingOrWrongToken }
        guard Self.isDestructive(head.method, parts) else { return nil }
        let now = clock.nowMs()
        if let until = steppedUp.withLock({ $0[operatorID] }), until > now { return nil }
        guard let code = head.headers["X-Bulwark-TOTP"].first else { return .stepUpRequired }
        switch OperatorTOTP.verify(code: code, store: store, secretBox: secretBox, nowMs: now) {
        case .notEnrolled: return .operatorTOTPNotEnrolled
        case .invalid: return .totpInvalid
        case .accepted:
            steppedUp.withLock { $0[operatorID] = now + Self.stepUpTTLMs }
            return nil
        }
    }

    /// Actions that take something away from someone, open the door wider, or create money.
    static func isDestructive(_ method: HTTPMethod, _ parts: [String]) -> Bool {
        guard parts.count >= 3, parts[0] == "admin", parts[1] == "v1" else { return false }
        if method == .DELETE { return true }
        guard method == .POST else { return false }
        let resource = parts[2]
        let action = parts.last ?? ""
        switch resource {
        case "kill-switches", "ip-blocks": return true
        case "keys": return ["revoke", "rotate"].contains(action)
        // Creating or crediting an account creates money in the venue.
        case "accounts": return parts.count == 3 || ["disable", "revoke", "deposits"].contains(action) || parts.count == 6 && parts[4] == "sessions"
        case "sessions": return action == "revoke"
        case "bans": return action == "lift"
        default: return false
        }
    }
}

/// The operators' TOTP factor, one for the admin API (sealed in the settings table; the last
/// accepted time step makes each code single-use).
public enum OperatorTOTP {
    public enum Outcome {
        case accepted
        case invalid
        case notEnrolled
    }

    static let settingKey = "admin.totp"
    static let counterKey = "admin.totp.last_counter"
    static let binding = "admin-totp"

    /// Creates (or replaces) the factor; returns the otpauth URI and the secret.
    public static func enroll(store: any Store, box: SecretBox, issuer: String = "Bulwark admin") throws -> (uri: String, secret: String, qrPNG: [UInt8]) {
        let secret = TOTP.generateSecret(for: .sha1)
        let totp = try TOTP(secret: secret)
        try store.setSetting(settingKey, try box.seal(secret, boundTo: binding))
        try store.setSetting(counterKey, "0")
        let uri = totp.otpauthURI(issuer: issuer, accountName: "operators")
        return (uri, Base32.encode(secret), try QRCode.encode(Array(uri.utf8)).png())
    }

    static func verify(code: String, store: any Store, secretBox: @Sendable () throws -> SecretBox, nowMs: Int64) -> Outcome {
        guard let sealed = (try? store.setting(settingKey)) ?? nil else { return .notEnrolled }
        guard let secret = try? secretBox().open(sealed, boundTo: binding), let totp = try? TOTP(secret: secret),
            let counter = totp.verify(code, atUnixMs: nowMs)
        else { return .invalid }
        let stored: String? = (try? store.setting(counterKey)) ?? nil
        let last = stored.flatMap { UInt64($0) } ?? 0
        guard counter > last else { return .invalid }
        try? store.setSetting(counterKey, String(counter))
        return .accepted
    }
}

/// The admin token file: created once (0600) and reused.
public enum AdminToken {
    public static func path(folder: DataFolder) -> String { folder.path + "/keys/admin.token" }

    public static func loadOrCreate(folder: DataFolder) throws -> String {
        let path = path(folder: folder)
        if SecretFile.exists(path) { return try SecretFile.read(path).trimmingCharacters(in: .whitespacesAndNewlines) }
        let token = Base64URL.encode(SecureRandom.bytes(count: 32))
        try SecretFile.write(token + "\n", to: path)
        return token
    }

    public static func rotate(folder: DataFolder) throws -> String {
        try? FileManager.default.removeItem(atPath: path(folder: folder))
        return try loadOrCreate(folder: folder)
    }
}
