import BulwarkAuth
import BulwarkCore
import BulwarkStore
import Foundation

/// TOTP algorithm names as operators type them (`sha1`, `sha256`, `sha512`).
public enum TOTPAlgorithmName: String, Sendable, CaseIterable {
    case sha1
    case sha256
    case sha512

    public var totp: TOTP.Algorithm {
        switch self {
        case .sha1: .sha1
        case .sha256: .sha256
        case .sha512: .sha512
        }
    }
}

/// JSON shapes of MFA results, shared by the CLI and the admin API.
public enum MFARendering {
    /// Enrolment output: shown once, never stored in the clear.
    public static func enrollment(_ enrollment: MFAService.Enrollment, to w: inout JSONWriter) {
        w.beginObject()
        w.key("account_id")
        w.string(enrollment.accountID)
        w.key("otpauth_uri")
        w.string(enrollment.otpauthURI)
        w.key("secret")
        w.string(enrollment.secretBase32)
        w.key("algorithm")
        w.string(enrollment.algorithm.rawValue)
        w.key("digits")
        w.int(Int64(enrollment.digits))
        w.key("status")
        w.string("pending")
        w.key("recovery_codes")
        w.beginArray()
        for code in enrollment.recoveryCodes { w.string(code) }
        w.endArray()
        w.key("qr_png_base64")
        w.string(Data(enrollment.qrPNG).base64EncodedString())
        w.endObject()
    }

    public static func status(_ status: MFAService.Status, to w: inout JSONWriter) {
        w.beginObject()
        w.key("enrolled")
        w.bool(status.enrolled)
        w.key("active")
        w.bool(status.active)
        if let algorithm = status.algorithm {
            w.key("algorithm")
            w.string(algorithm)
        }
        if let digits = status.digits {
            w.key("digits")
            w.int(Int64(digits))
        }
        if let locked = status.lockedUntilMs {
            w.key("locked_until_ms")
            w.int(locked)
        }
        w.key("recovery_codes_left")
        w.int(Int64(status.recoveryCodesLeft))
        w.endObject()
    }
}
