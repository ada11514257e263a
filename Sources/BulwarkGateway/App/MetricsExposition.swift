import BulwarkCore
import Synchronization

/// Renders the process metrics in the Prometheus text exposition format (version 0.0.4).
enum MetricsExposition {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    static func render(_ metrics: GatewayMetrics, subscriptions: Int) -> String {
        var out = Output()
        out.counter("bulwark_connections_accepted_total", "TCP connections accepted on the public listener.", metrics.connectionsAccepted)
        out.header("bulwark_connections", "gauge", "Connections by state: handshaking (before 101), open (WebSocket), closing (close handshake).")
        out.sample("bulwark_connections", labels: ["state": "handshaking"], metrics.connections.handshaking.load(ordering: .relaxed))
        out.sample("bulwark_connections", labels: ["state": "open"], metrics.connections.open.load(ordering: .relaxed))
        out.sample("bulwark_connections", labels: ["state": "closing"], metrics.connections.closing.load(ordering: .relaxed))
        out.counter("bulwark_upgrades_refused_total", "WebSocket upgrades refused with an HTTP status.", metrics.upgradesRefused)
        out.counter("bulwark_handshake_header_refusals_total", "Requests refused for their header block (431 size, 400 field count).", metrics.handshakeHeaderRefusals)
        out.counter("bulwark_handshake_timeouts_total", "Connections dropped at ws.handshake_deadline_ms.", metrics.handshakeTimeouts)
        out.counter("bulwark_keepalive_timeouts_total", "Connections dropped for a ping left unanswered past ws.pong_timeout_ms.", metrics.keepaliveTimeouts)
        out.counter("bulwark_auth_deadline_closes_total", "Connections closed with 1008 at ws.auth_deadline_ms.", metrics.authDeadlineCloses)
        out.counter("bulwark_logins_total", "Successful logins.", metrics.loginSuccesses)
        out.counter("bulwark_login_failures_total", "Failed logins.", metrics.loginFailures)
        out.header("bulwark_login_failures_by_reason_total", "counter", "Failed logins by the error the client got.")
        for (code, count) in metrics.loginFailuresByCode.snapshot.sorted(by: { $0.key < $1.key }) {
            out.sample("bulwark_login_failures_by_reason_total", labels: ["reason": code], count)
        }
        out.header("bulwark_security_events_total", "counter", "Security events raised by the detection rules, by rule (docs/incident-response.md).")
        for (rule, count) in metrics.securityEvents.snapshot.sorted(by: { $0.key < $1.key }) {
            out.sample("bulwark_security_events_total", labels: ["rule": rule], count)
        }
        out.counter("bulwark_sealed_frame_violations_total", "Sealed frames refused (each closed its connection with 4005).", metrics.sealedFrameViolations)
        out.header("bulwark_ws_frames_total", "counter", "WebSocket frames by direction.")
        out.sample("bulwark_ws_frames_total", labels: ["direction": "in"], metrics.frames.received.load(ordering: .relaxed))
        out.sample("bulwark_ws_frames_total", labels: ["direction": "out"], metrics.frames.sent.load(ordering: .relaxed))
        out.header("bulwark_ws_bytes_total", "counter", "WebSocket bytes on the wire (inside TLS) by direction.")
        out.sample("bulwark_ws_bytes_total", labels: ["direction": "in"], metrics.bytes.received.load(ordering: .relaxed))
        out.sample("bulwark_ws_bytes_total", labels: ["direction": "out"], metrics.bytes.sent.load(ordering: .relaxed))
        out.header("bulwark_ws_closes_total", "counter", "WebSocket closes by close code and by the side that started the close handshake (1005: no code).")
        for (key, count) in metrics.closes.snapshot.sorted(by: { $0.key < $1.key }) {
            out.sample("bulwark_ws_closes_total", labels: ["code": String(key.code), "initiator": key.initiator.rawValue], count)
        }
        out.counter("bulwark_slow_consumer_events_total", "Times a subscriber's outbound queue filled up and public data started being dropped.", metrics.slowConsumers.events)
        out.counter("bulwark_slow_consumer_dropped_messages_total", "Public messages not delivered to a slow subscriber (dropped or conflated).", metrics.slowConsumers.droppedMessages)
        out.counter("bulwark_slow_consumer_resyncs_total", "Fresh book snapshots sent to subscribers after drops.", metrics.slowConsumers.resyncs)
        out.counter("bulwark_slow_consumer_closes_total", "Connections closed with 4004: private data did not fit their queue.", metrics.slowConsumers.closes)
        out.gauge("bulwark_outbound_queue_bytes", "Bytes waiting in subscribers' outbound queues, all connections.", metrics.outboundQueue.bytes.load(ordering: .relaxed))
        out.gauge("bulwark_outbound_queue_messages", "Messages waiting in subscribers' outbound queues, all connections.", metrics.outboundQueue.messages.load(ordering: .relaxed))
        out.gauge("bulwark_outbound_queue_peak_bytes", "The deepest single connection's outbound queue since start.", metrics.outboundQueue.peakBytes.load(ordering: .relaxed))
        out.gauge("bulwark_subscriptions", "Channel subscriptions on this node.", subscriptions)
        out.counter("bulwark_certificate_reloads_total", "Certificate reloads.", metrics.certificateReloads)
        out.counter("bulwark_certificate_reload_failures_total", "Certificate reloads refused (the old certificate stays).", metrics.certificateReloadFailures)
        out.gauge("bulwark_certificate_days_left", "Days until the serving certificate expires.", metrics.certificateDaysLeft.load(ordering: .relaxed))
        return out.text
    }

    /// Gauges read from the session registry, the audit writer and the incident-response state.
    static func renderSecurity(sessions: [(RiskLevel, Int)], auditQueued: Int, auditDropped: Int, auditLagMs: Int, killSwitches: Int, ipBlocks: Int) -> String {
        var out = Output()
        out.header("bulwark_sessions", "gauge", "Live sessions on this node by risk level (docs/risk-engine.md).")
        for (level, count) in sessions { out.sample("bulwark_sessions", labels: ["risk_level": level.rawValue], count) }
        out.gauge("bulwark_audit_queue", "Audit records waiting to be appended (appended every 100 ms).", auditQueued)
        out.gauge("bulwark_audit_lag_ms", "Age of the oldest audit record waiting to be appended.", auditLagMs)
        out.gauge("bulwark_audit_dropped", "Audit records dropped because the queue was full (an alert is logged at the first).", auditDropped)
        out.gauge("bulwark_kill_switches_engaged", "Engaged kill switches (any scope).", killSwitches)
        out.gauge("bulwark_ip_blocks", "Active IP blocks (operators' and automatic).", ipBlocks)
        return out.text
    }

    /// With a venue process (`venue.url`): whether its link is up (orders are refused while it is not).
    static func renderVenueLink(up: Bool) -> String {
        var out = Output()
        out.gauge("bulwark_venue_link_up", "1 while the event stream from the venue process is up, 0 while orders are refused with venue_unavailable.", up ? 1 : 0)
        return out.text
    }

    private struct Output {
        var text = ""

        mutating func header(_ name: String, _ type: String, _ help: String) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }

        mutating func sample(_ name: String, labels: [String: String] = [:], _ value: Int) {
            let rendered = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",")
            text += labels.isEmpty ? "\(name) \(value)\n" : "\(name){\(rendered)} \(value)\n"
        }

        mutating func counter(_ name: String, _ help: String, _ value: borrowing Atomic<Int>) {
            header(name, "counter", help)
            sample(name, value.load(ordering: .relaxed))
        }

        mutating func gauge(_ name: String, _ help: String, _ value: Int) {
            header(name, "gauge", help)
            sample(name, value)
        }
    }
}
