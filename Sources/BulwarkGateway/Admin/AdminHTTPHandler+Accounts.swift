import BulwarkCore
import BulwarkStore
import NIOCore
import NIOHTTP1

/// `/admin/v1/accounts`: list, create (optionally funded), show, fund. The same validation as
/// `bulwark accounts create|fund` (`AccountManagement`).
extension AdminHTTPHandler {
    func listAccounts(context: ChannelHandlerContext, head: HTTPRequestHead) {
        guard let accounts = try? app.store.accounts() else { return failure(context, .internalServerError, "store_unavailable") }
        var w = JSONWriter()
        w.beginObject()
        w.key("accounts")
        w.beginArray()
        for account in accounts { AccountRendering.write(account, tier: (try? app.store.accountTier(id: account.id)) ?? .standard, to: &w) }
        w.endArray()
        w.endObject()
        send(context, .ok, body: w.string, keepAlive: head.isKeepAlive)
    }

    func showAccount(context: ChannelHandlerContext, head: HTTPRequestHead, accountID: String) {
        let found: AccountRecord?
        do {
            found = try app.store.account(id: accountID)
        } catch {
            return failure(context, .internalServerError, "store_unavailable")
        }
        guard let account = found else { return failure(context, .notFound, "account_not_found") }
        let tier = (try? app.store.accountTier(id: accountID)) ?? .standard
        let live = app.sessions.sessions(accountID: accountID).count
        var w = JSONWriter()
        AccountRendering.write(account, tier: tier, to: &w) { w in
            w.key("live_sessions_here")
            w.int(Int64(live))
        }
        send(context, .ok, body: w.string, keepAlive: head.isKeepAlive)
    }

    func createAccount(context: ChannelHandlerContext, head: HTTPRequestHead) {
        guard let reader = jsonBody(context, allowed: ["name", "fund"]) else { return }
        let name: String
        let fund: String
        do throws(RPCError) {
            name = try reader.requiredString("name", maxLength: 64)
            fund = try reader.string("fund", maxLength: 1024) ?? ""
        } catch {
            return failure(context, .badRequest, "invalid_params", field: error.field)
        }
        do {
            let funding = try AccountManagement.parseFunding(fund)
            let account = try AccountManagement(store: app.store).create(name: name, funding: funding, nowMs: app.clock.nowMs())
            audit(context, "admin.account.create", account.id, details: ["funded": fund])
            applyChangesNow()
            var w = JSONWriter()
            AccountRendering.write(account, tier: .standard, to: &w)
            send(context, .created, body: w.string, keepAlive: head.isKeepAlive)
        } catch let failure as AccountManagement.Failure {
            self.failure(context, .badRequest, "invalid_account", detail: failure.description)
        } catch let error as StoreError {
            self.failure(context, .conflict, "invalid_account", detail: error.description)
        } catch {
            self.failure(context, .internalServerError, "store_unavailable")
        }
    }

    func fundAccount(context: ChannelHandlerContext, head: HTTPRequestHead, accountID: String) {
        guard let reader = jsonBody(context, allowed: ["asset", "amount"]) else { return }
        let asset: String
        let amount: String
        do throws(RPCError) {
            asset = try reader.requiredString("asset", maxLength: 12)
            amount = try reader.requiredString("amount", maxLength: 40)
        } catch {
            return failure(context, .badRequest, "invalid_params", field: error.field)
        }
        do {
            let credit = try AccountManagement.credit(asset: asset, amount: amount)
            try AccountManagement(store: app.store).fund(accountID: accountID, [credit], nowMs: app.clock.nowMs())
            audit(context, "admin.account.fund", accountID, details: ["funded": "\(asset)=\(credit.amount)"])
            applyChangesNow()
            send(context, .created, body: #"{"credited":true}"#, keepAlive: head.isKeepAlive)
        } catch let failure as AccountManagement.Failure {
            self.failure(context, failure.description.hasPrefix("no account") ? .notFound : .badRequest, "invalid_deposit", detail: failure.description)
        } catch let error as StoreError {
            self.failure(context, .badRequest, "invalid_deposit", detail: error.description)
        } catch {
            self.failure(context, .internalServerError, "store_unavailable")
        }
    }
}
