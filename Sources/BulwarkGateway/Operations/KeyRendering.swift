import BulwarkCore

/// The JSON shape of a key record, for the CLI and the admin API (never includes a secret).
public enum KeyRendering {
    public static func write(_ key: APIKeyRecord, to w: inout JSONWriter) {
        w.beginObject()
        w.key("key_id")
        w.string(key.id)
        w.key("account_id")
        w.string(key.accountID)
        w.key("type")
        w.string(key.algorithm.rawValue)
        w.key("public_key")
        w.string(Base64URL.encode(key.publicKey))
        w.key("scopes")
        w.beginArray()
        for scope in key.scopes.sorted() { w.string(scope.rawValue) }
        w.endArray()
        w.key("label")
        w.string(key.label)
        w.key("status")
        w.string(key.status.rawValue)
        w.key("created_ms")
        w.int(key.createdMs)
        if let expires = key.expiresMs {
            w.key("expires_ms")
            w.int(expires)
        }
        if let pin = key.clientCertificatePin {
            w.key("client_cert_sha256")
            w.string(pin)
        }
        if !key.restrictions.ipAllowlist.isEmpty {
            w.key("ip_allowlist")
            w.beginArray()
            for network in key.restrictions.ipAllowlist { w.string(network.description) }
            w.endArray()
        }
        if let instruments = key.restrictions.instruments {
            w.key("instruments")
            w.beginArray()
            for instrument in instruments.sorted() { w.string(instrument) }
            w.endArray()
        }
        if let cap = key.restrictions.maxOrderNotional {
            w.key("max_order_notional")
            w.string(cap.description)
        }
        if let locked = key.lockedUntilMs {
            w.key("locked_until_ms")
            w.int(locked)
        }
        if key.sealedPolicy != .none {
            w.key("sealed_policy")
            w.string(key.sealedPolicy.rawValue)
        }
        if let used = key.lastUsedMs {
            w.key("last_used_ms")
            w.int(used)
        }
        w.endObject()
    }
}
