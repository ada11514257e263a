import BulwarkCore

/// One account as JSON, the same for the CLI (`accounts list|show --json`) and the admin API.
public enum AccountRendering {
    public static func write(_ account: AccountRecord, tier: AccountTier, to w: inout JSONWriter, extra: (inout JSONWriter) -> Void = { _ in }) {
        w.beginObject()
        w.key("account_id")
        w.string(account.id)
        w.key("name")
        w.string(account.name)
        w.key("status")
        w.string(account.status.rawValue)
        w.key("tier")
        w.string(tier.rawValue)
        w.key("created_ms")
        w.int(account.createdMs)
        extra(&w)
        w.endObject()
    }
}
