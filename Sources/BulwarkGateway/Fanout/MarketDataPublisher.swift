import BulwarkCore
import BulwarkVenue
import NIOConcurrencyHelpers

/// Turns venue events into channel notifications: public `trades.*`, `book.*`, `ticker.*` and the
/// private `orders`, `fills`, `balances` of each account.
final class MarketDataPublisher: VenueEventSink, Sendable {
    let hub: FanoutHub
    /// Private events kept for resume (`private_seq`, replay after a reconnect).
    let privateLog: PrivateEventLog
    private let venueBox = NIOLockedValueBox<(any Venue)?>(nil)
    private let auditBox = NIOLockedValueBox<AuditTrail?>(nil)

    /// Orders and fills are audited as the venue reports them (set once at start).
    var audit: AuditTrail? {
        get { auditBox.withLockedValue { $0 } }
        set { auditBox.withLockedValue { $0 = newValue } }
    }

    init(hub: FanoutHub, privateLog: PrivateEventLog = PrivateEventLog()) {
        self.hub = hub
        self.privateLog = privateLog
    }

    var venue: (any Venue)? {
        get { venueBox.withLockedValue { $0 } }
        set { venueBox.withLockedValue { $0 = newValue } }
    }

    /// Registers a subscriber; a book subscription first receives a snapshot, atomically with
    /// respect to the deltas that follow it.
    func subscribe(_ topic: SubscriptionTopic, subscriber: FanoutHub.Subscriber) async {
        let hub = self.hub
        if case .publicMarket(.ticker, let instrument) = topic.kind, let venue {
            // The current ticker first, stamped with the topic's current seq (the next update is seq + 1).
            _ = await venue.withTicker(instrument: instrument) { ticker in
                hub.subscribe(topic: topic.key, subscriber)
                let bytes = Notification.subscription(channel: topic.channel, seq: hub.currentSeq(topic: topic.key), prevSeq: nil) { w in
                    Render.ticker(ticker, to: &w)
                }
                hub.send(bytes, to: subscriber, delivery: .droppable(topic: topic.key))
            }
            return
        }
        guard case .publicMarket(.book, let instrument) = topic.kind, let venue else {
            hub.subscribe(topic: topic.key, subscriber)
            return
        }
        _ = await venue.withBookSnapshot(instrument: instrument) { snapshot in
            hub.subscribe(topic: topic.key, subscriber)
            hub.send(Self.snapshot(snapshot, topic: topic), to: subscriber, delivery: .snapshot(topic: topic.key))
        }
    }

    /// A subscriber's queue dropped deltas of these book topics: send each a fresh snapshot (its
    /// `seq` jumps past the dropped deltas, so the client sees what happened).
    func resync(topicKeys: [String], subscriber: FanoutHub.Subscriber) {
        guard let venue else { return }
        let hub = self.hub
        for key in topicKeys {
            guard let topic = SubscriptionTopic(channel: key, accountID: nil),
                case .publicMarket(.book, let instrument) = topic.kind
            else { continue }
            Task {
                _ = await venue.withBookSnapshot(instrument: instrument) { snapshot in
                    guard hub.isSubscribed(topic: topic.key, connectionID: subscriber.connectionID) else { return }
                    hub.send(Self.snapshot(snapshot, topic: topic), to: subscriber, delivery: .snapshot(topic: topic.key))
                }
            }
        }
    }

    private static func snapshot(_ snapshot: BookSnapshot, topic: SubscriptionTopic) -> [UInt8] {
        Notification.subscription(channel: topic.channel, seq: snapshot.seq, prevSeq: nil) { w in
            Render.book(type: "snapshot", bids: snapshot.bids, asks: snapshot.asks, to: &w)
        }
    }

    /// Called inside the venue's serial order.
    func venueEvents(_ events: [EngineEvent]) {
        if let audit { Self.auditOrders(events, to: audit) }
        for event in events {
            switch event {
            case .trade(let trade):
                publishPublic(.trades, trade.instrument) { w in Render.publicTrade(trade, to: &w) }
                for (account, side, fee, orderID) in [
                    (trade.takerAccountID, trade.takerSide, trade.takerFee, trade.takerOrderID),
                    (trade.makerAccountID, trade.takerSide.opposite, trade.makerFee, trade.makerOrderID),
                ] {
                    publishPrivate(.fills, account) { w in
                        Render.fill(trade, side: side, fee: fee, orderID: orderID, liquidity: orderID == trade.takerOrderID ? "taker" : "maker", to: &w)
                    }
                }
            case .bookDelta(let instrument, let seq, let changes):
                let bids = changes.filter { $0.side == .buy }.map { (price: $0.price, qty: $0.qty) }
                let asks = changes.filter { $0.side == .sell }.map { (price: $0.price, qty: $0.qty) }
                let topic = SubscriptionTopic(.publicMarket(.book, instrument: instrument))
                hub.publish(topic: topic.key, channel: topic.channel, explicitSeq: seq, prevSeq: seq - 1, delivery: .conflated) { w in
                    Render.book(type: "delta", bids: bids, asks: asks, to: &w)
                }
            case .orderUpdate(let order):
                publishPrivate(.orders, order.accountID) { w in Render.order(order, duplicate: nil, to: &w) }
            case .balanceUpdate(let account, let balance):
                publishPrivate(.balances, account) { w in Render.balance(balance, to: &w) }
            case .positionUpdate:
                break
            }
        }
    }

    /// The venue's event stream started over from a fresh state (a remote venue restarted, or this
    /// gateway missed more than the venue keeps for replay): every book subscriber gets a fresh
    /// snapshot, whose `seq` tells the client to drop what it had.
    func venueBooksReset(_ snapshots: [BookSnapshot]) {
        for snapshot in snapshots {
            let topic = SubscriptionTopic(.publicMarket(.book, instrument: snapshot.instrument))
            guard hub.subscriberCount(topic: topic.key) > 0 else { continue }
            hub.publish(topic: topic.key, channel: topic.channel, explicitSeq: snapshot.seq, prevSeq: nil, delivery: .conflated) { w in
                Render.book(type: "snapshot", bids: snapshot.bids, asks: snapshot.asks, to: &w)
            }
        }
    }

    /// Called inside the venue's serial order, after the events of the operation that changed them.
    func venueTickers(_ tickers: [Ticker]) {
        for ticker in tickers {
            publishPublic(.ticker, ticker.instrument) { w in Render.ticker(ticker, to: &w) }
        }
    }

    /// One audit record per order state change and per fill (each side), with ids and amounts only.
    static func auditOrders(_ events: [EngineEvent], to audit: AuditTrail) {
        for event in events {
            switch event {
            case .orderUpdate(let order):
                var details = [
                    "order_id": order.orderID, "client_order_id": order.clientOrderID, "instrument": order.instrument,
                    "side": order.side.rawValue, "type": order.type.rawValue, "qty": order.qty.description,
                    "filled_qty": order.filledQty.description, "status": order.status.rawValue,
                ]
                if let price = order.price { details["price"] = price.description }
                if let reason = order.cancelReason { details["cancel_reason"] = reason.rawValue }
                audit.record("order.\(order.status.rawValue)", actor: order.accountID, credentialID: order.keyID, outcome: .success, details: details)
            case .trade(let trade):
                for (account, orderID) in [(trade.takerAccountID, trade.takerOrderID), (trade.makerAccountID, trade.makerOrderID)] {
                    audit.record(
                        "order.fill", actor: account, outcome: .success,
                        details: [
                            "trade_id": trade.tradeID, "order_id": orderID, "instrument": trade.instrument, "price": trade.price.description,
                            "qty": trade.qty.description,
                        ])
                }
            default:
                break
            }
        }
    }

    /// A security or protection event for one account, on its private `session` channel.
    func publishSessionEvent(accountID: String, write: (inout JSONWriter) -> Void) {
        publishPrivate(.session, accountID, write: write)
    }

    private func publishPublic(_ kind: SubscriptionTopic.PublicKind, _ instrument: String, write: (inout JSONWriter) -> Void) {
        let topic = SubscriptionTopic(.publicMarket(kind, instrument: instrument))
        hub.publish(topic: topic.key, channel: topic.channel, delivery: .droppable, writeData: write)
    }

    private func publishPrivate(_ kind: SubscriptionTopic.PrivateKind, _ account: String, write: (inout JSONWriter) -> Void) {
        let topic = SubscriptionTopic(.privateAccount(kind, accountID: account))
        privateLog.record(accountID: account, topicKey: topic.key) { privateSeq in
            hub.publish(topic: topic.key, channel: topic.channel, privateSeq: privateSeq, delivery: .reliable, writeData: write)
        }
    }
}
