"""What the peer servers share: the message shapes `bulwark bench` needs, and their command line.

Peers serve two paths:
  /ws/echo  echo every text or binary message back unchanged (the echo scenario);
  /ws/v1    a stand-in for the gateway's fan-out: a `hello`, any `public/auth` accepted without
            checks, `subscribe` to channels, and `private/order.place`, where every IOC buy is one
            "trade" broadcast as a `subscription` notification on trades.<instrument>.
Replies are compact JSON with `jsonrpc` first, then `id` or `method`, as the gateway writes them
(the load tool routes messages by that prefix). No security work at all: no signature, no rate
limits, no validation, no matching; that is the point of the comparison.
"""
import argparse
import json
import ssl
import time

HELLO = json.dumps(
    {"jsonrpc": "2.0", "method": "hello", "params": {"protocol": "bulwark.v1", "connection_id": "c_peer", "challenge": "peer"}},
    separators=(",", ":"),
).encode()


def reply(request_id, result):
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}, separators=(",", ":")).encode()


class FanoutHub:
    """Subscribers by channel and the trade counter; `send` is the server library's send."""

    def __init__(self):
        self.channels = {}
        self.trade_id = 0

    def drop(self, subscriber):
        for members in self.channels.values():
            members.discard(subscriber)

    def handle(self, subscriber, text):
        """Answers one /ws/v1 request: returns (reply, subscribers, notification); the last two
        are (), None unless the request made a trade to publish."""
        request = json.loads(text)
        method, request_id, params = request.get("method"), request.get("id"), request.get("params") or {}
        if method == "subscribe":
            for channel in params.get("channels", []):
                self.channels.setdefault(channel, set()).add(subscriber)
            return reply(request_id, {"channels": params.get("channels", [])}), (), None
        elif method == "public/auth":
            return reply(request_id, {"session_id": "s_peer", "account_id": "a_peer", "scopes": params.get("scopes", []), "challenge": "peer"}), (), None
        elif method == "private/order.place":
            answer = reply(request_id, {"order_id": f"o_{request_id}", "status": "filled" if params.get("tif") == "ioc" else "open"})
            if params.get("side") == "buy" and params.get("tif") == "ioc":
                self.trade_id += 1
                channel = "trades." + params.get("instrument", "")
                notification = json.dumps(
                    {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "seq": self.trade_id, "data": {
                        "trade_id": f"t_{self.trade_id}", "instrument": params.get("instrument"), "price": params.get("price"),
                        "qty": params.get("qty"), "taker_side": "buy", "ts_ms": int(time.time() * 1000)}}},
                    separators=(",", ":"),
                ).encode()
                return answer, self.channels.get(channel, ()), notification
            return answer, (), None
        return reply(request_id, {}), (), None


def peer_options():
    """The peers' command line: --port PORT [--cert CERT --key KEY] [--ready-file FILE]."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ready-file")
    return parser.parse_args()


def tls_context(options):
    """A TLS 1.3-only server context when --cert is given (as the gateway serves), else None."""
    if not options.cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(options.cert, options.key)
    return context


def announce_ready(options):
    """Writes the listening address to --ready-file, which the harness waits for."""
    if options.ready_file:
        with open(options.ready_file, "w") as ready:
            ready.write(f"127.0.0.1:{options.port}\n")
