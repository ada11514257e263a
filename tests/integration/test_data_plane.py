"""The WebSocket data plane (issue 5): every limit with a number, the client IP behind proxies, the
fan-out hub under slow consumers and at 1,000 subscribers, and the metrics.

No assertion is about time: waits are generous bounds that only catch "never".
"""
import asyncio
import json
import os
import secrets
import socket
import ssl
import struct
import time
import urllib.error
import urllib.request

import pytest

from bulwark_client import Client, b64u, signing_string
from conftest import Gateway, provision_trader
from raw_websocket import RawConnection

INSTRUMENT = "ETH-USD"


def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def plane_gateway(workdir):
    server = Gateway(os.path.join(workdir, "data-plane"), extra_env={
        "BULWARK_WS_MAX_OUTBOUND_BYTES": "65536", "BULWARK_METRICS_PUBLIC": "true", "BULWARK_WS_MAX_SUBSCRIPTIONS": "4",
        "BULWARK_WS_HANDSHAKE_DEADLINE_MS": "1500", "BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "1000",
        # The fan-out subscribers read public data without logging in; on a loaded CI machine
        # connecting a thousand of them can outlast the default 30 s auth deadline.
        "BULWARK_WS_AUTH_DEADLINE_MS": "600000"})
    yield server
    server.stop()


def trader(server, prefix, fund="USD=100000000,ETH=100000"):
    return provision_trader(server.data, prefix, fund)


def http_get(server, path):
    base = server.url.replace("wss://", "https://").replace("/ws/v1", "")
    context = ssl.create_default_context(cafile=server.ca)
    try:
        with urllib.request.urlopen(base + path, context=context, timeout=10) as response:
            return response.status, response.headers.get("Content-Type"), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read().decode()


def metric(server, name):
    """Sum of a metric's samples from GET /metrics."""
    _, _, text = http_get(server, "/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def rss_kib(server):
    with open(f"/proc/{server.process.pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def raw_opened(server, **kwargs):
    connection = RawConnection(server.url, server.ca, **kwargs)
    assert connection.status == 101, connection.response_head
    hello = connection.recv_json()
    assert hello["method"] == "hello"
    connection.challenge = hello["params"]["challenge"]
    return connection


def raw_call(connection, method, params=None, request_id=None):
    request_id = request_id or secrets.randbelow(1 << 40)
    message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    connection.send_json(message)
    while True:
        reply = connection.recv_json()
        if reply.get("id") == request_id:
            return reply


def raw_login(connection, key_id, key):
    timestamp = int(time.time() * 1000)
    nonce = b64u(secrets.token_bytes(16))
    text = signing_string(key_id, connection.challenge, timestamp, nonce, None)
    reply = raw_call(connection, "public/auth", {"grant_type": "signature", "key_id": key_id, "timestamp_ms": timestamp,
                                                  "nonce": nonce, "signature": b64u(key.sign(text.encode()))})
    assert "result" in reply, reply
    return reply["result"]


# --- handshake limits -----------------------------------------------------------------------------

def test_oversized_header_block_is_431_and_a_header_flood_is_400(plane_gateway):
    big = RawConnection(plane_gateway.url, plane_gateway.ca, extra_headers=("X-Pad: " + "a" * 9000,))
    assert big.status == 431 and "headers_too_large" in big.response_head + big.buffer.decode(errors="replace")
    big.close()
    flood = RawConnection(plane_gateway.url, plane_gateway.ca, extra_headers=tuple(f"X-H{i}: 1" for i in range(60)))
    assert flood.status == 400
    flood.close()
    # Just under both limits is an ordinary upgrade.
    fine = RawConnection(plane_gateway.url, plane_gateway.ca, extra_headers=tuple(f"X-H{i}: 1" for i in range(40)))
    assert fine.status == 101
    fine.close()
    assert metric(plane_gateway, "bulwark_handshake_header_refusals_total") >= 2


def closed_by_server(sock, timeout=30):
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionResetError, ssl.SSLError, OSError) as error:
        return not isinstance(error, socket.timeout)


def test_slowloris_handshakes_are_dropped_at_the_deadline(plane_gateway):
    host, port = plane_gateway.url[len("wss://"):].split("/")[0].rsplit(":", 1)
    # No TLS ClientHello at all.
    silent = socket.create_connection((host, int(port)))
    # TLS done, then a request line trickled and never finished.
    context = ssl.create_default_context(cafile=plane_gateway.ca)
    trickle = context.wrap_socket(socket.create_connection((host, int(port))), server_hostname="localhost")
    trickle.sendall(b"GET /ws/v1 HTTP/1.1\r\nHost: localhost\r\n")
    assert closed_by_server(silent) and closed_by_server(trickle)
    silent.close()
    trickle.close()
    assert metric(plane_gateway, "bulwark_handshake_timeouts_total") >= 2


# --- frame and connection limits ------------------------------------------------------------------

def test_a_frame_announcing_a_huge_payload_is_refused_before_the_payload(gateway):
    connection = raw_opened(gateway)
    # Only the header: 1 GiB announced, nothing sent. The close must come without the payload.
    connection.sock.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 30) + os.urandom(4))
    assert connection.recv_until_close() == 1009
    connection.close()


def test_max_subscriptions_per_connection(plane_gateway):
    async def scenario():
        client = await Client.connect(plane_gateway.url, plane_gateway.ca)
        first = await client.call("subscribe", {"channels": ["trades.ETH-USD", "ticker.ETH-USD", "trades.BTC-USD", "ticker.BTC-USD"]})
        assert "result" in first, first
        extra = await client.call("subscribe", {"channels": ["trades.BTC-PERP"]})
        assert extra["error"]["message"] == "invalid_params" and extra["error"]["data"]["reason"] == "too_many_subscriptions"
        # Unsubscribing frees a slot.
        assert "result" in await client.call("unsubscribe", {"channels": ["ticker.BTC-USD"]})
        assert "result" in await client.call("subscribe", {"channels": ["trades.BTC-PERP"]})
        await client.close()
    run(scenario())


@pytest.fixture(scope="module")
def keepalive_gateway(workdir):
    server = Gateway(os.path.join(workdir, "keepalive"), extra_env={
        "BULWARK_WS_PING_INTERVAL_MS": "300", "BULWARK_WS_PONG_TIMEOUT_MS": "300", "BULWARK_DEMO_ENABLED": "false"})
    yield server
    server.stop()


def test_a_peer_that_does_not_answer_pings_is_dropped(keepalive_gateway):
    silent = raw_opened(keepalive_gateway, timeout=30)
    pings = 0
    with pytest.raises(ConnectionError):
        while True:  # reads, never answers: the server gives up after the pong timeout
            opcode, _ = silent.recv_frame()
            pings += opcode == 0x9
    assert pings >= 1
    silent.close()

    answering = raw_opened(keepalive_gateway, timeout=30)
    pings = 0
    while pings < 5:  # five intervals, each answered: still open
        opcode, payload = answering.recv_frame()
        if opcode == 0x9:
            pings += 1
            answering.send_frame(0xA, payload)
    assert "result" in raw_call(answering, "public/ping")
    answering.close()


# --- client IP ------------------------------------------------------------------------------------

def session_ip(server, headers=None):
    account, key_id, key = trader(server, "ip")

    async def scenario():
        client = await Client.connect(server.url, server.ca, additional_headers=headers or {})
        await client.login(key_id, key)
        status = await client.call("private/session.status")
        await client.close()
        return status["result"]["client_ip"]
    return run(scenario())


def test_forwarded_for_from_an_untrusted_peer_is_ignored(gateway):
    assert session_ip(gateway, {"X-Forwarded-For": "203.0.113.7"}) == "127.0.0.1"


@pytest.fixture(scope="module")
def proxied_gateway(workdir):
    server = Gateway(os.path.join(workdir, "behind-proxy"), extra_env={"BULWARK_NET_TRUSTED_PROXIES": "127.0.0.1/32"})
    yield server
    server.stop()


def test_forwarded_for_from_a_trusted_proxy_names_the_client(proxied_gateway):
    assert session_ip(proxied_gateway, {"X-Forwarded-For": "203.0.113.7"}) == "203.0.113.7"
    # Whatever the client itself put in front is not believed: the hop the trusted proxy added is.
    assert session_ip(proxied_gateway, {"X-Forwarded-For": "6.6.6.6, 198.51.100.9"}) == "198.51.100.9"
    assert session_ip(proxied_gateway) == "127.0.0.1"


def proxy_v2_header(source, destination="127.0.0.1", source_port=40000, destination_port=443):
    addresses = socket.inet_aton(source) + socket.inet_aton(destination) + struct.pack("!HH", source_port, destination_port)
    return (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addresses)) + addresses)


@pytest.fixture(scope="module")
def proxy_protocol_gateway(workdir):
    server = Gateway(os.path.join(workdir, "proxy-protocol"), extra_env={
        "BULWARK_NET_TRUSTED_PROXIES": "127.0.0.1/32", "BULWARK_NET_PROXY_PROTOCOL": "true"})
    yield server
    server.stop()


def test_proxy_protocol_v2_names_the_client(proxy_protocol_gateway):
    server = proxy_protocol_gateway
    account, key_id, key = trader(server, "proxied")
    connection = raw_opened(server, preamble=proxy_v2_header("192.0.2.44"))
    raw_login(connection, key_id, key)
    assert raw_call(connection, "private/session.status")["result"]["client_ip"] == "192.0.2.44"
    connection.close()
    # From a trusted proxy the header is mandatory: plain TLS is not mistaken for one.
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        RawConnection(server.url, server.ca)


# --- fan-out --------------------------------------------------------------------------------------

async def place(client, side, qty, price, tif="gtc", **extra):
    reply = await client.call("private/order.place", {
        "instrument": INSTRUMENT, "side": side, "type": "limit", "qty": qty, "price": price, "tif": tif,
        "client_order_id": secrets.token_hex(8), **extra})
    assert "result" in reply, reply
    return reply["result"]


async def pipelined(client, requests, window=24):
    """Sends requests `window` at a time without waiting for each answer (the in-flight bound is 32)."""
    for start in range(0, len(requests), window):
        ids = []
        for method, params in requests[start:start + window]:
            client.next_id += 1
            ids.append(client.next_id)
            await client.ws.send(json.dumps({"jsonrpc": "2.0", "id": client.next_id, "method": method, "params": params}))
        pending = set(ids)
        while pending:
            reply = await client.recv_json(30)
            if reply.get("id") in pending:
                assert "result" in reply, reply
                pending.discard(reply["id"])


def buys(count, qty="0.001", price="5001"):
    return [("private/order.place", {"instrument": INSTRUMENT, "side": "buy", "type": "limit", "qty": qty, "price": price,
                                     "tif": "ioc", "client_order_id": secrets.token_hex(8)}) for _ in range(count)]


def trade_seqs(messages):
    return [m["params"]["seq"] for m in messages if m.get("method") == "subscription" and m["params"]["channel"] == f"trades.{INSTRUMENT}"]


def test_fanout_1000_subscribers_receive_every_message_in_order(plane_gateway):
    _, seller_key_id, seller_key = trader(plane_gateway, "fan-seller")
    _, buyer_key_id, buyer_key = trader(plane_gateway, "fan-buyer")
    trades = 40

    async def subscriber():
        client = await Client.connect(plane_gateway.url, plane_gateway.ca, max_size=1 << 20)
        assert "result" in await client.call("subscribe", {"channels": [f"trades.{INSTRUMENT}"]}, timeout=60)
        return client

    async def collect(client):
        received = list(client.notifications)
        while len(trade_seqs(received)) < trades:
            received.append(await client.recv_json(60))
        return [m for m in received if m.get("method") == "subscription"]

    async def scenario():
        subscribers = []
        for _ in range(10):  # 10 x 100 concurrent upgrades
            subscribers += await asyncio.gather(*(subscriber() for _ in range(100)))
        seller = await Client.connect(plane_gateway.url, plane_gateway.ca)
        await seller.login(seller_key_id, seller_key)
        buyer = await Client.connect(plane_gateway.url, plane_gateway.ca)
        await buyer.login(buyer_key_id, buyer_key)
        await place(seller, "sell", "1", "5000.5")
        await pipelined(buyer, buys(trades))
        streams = await asyncio.wait_for(asyncio.gather(*(collect(c) for c in subscribers)), 180)
        reference = [m["params"]["data"]["trade_id"] for m in streams[0]]
        for stream in streams:
            seqs = [m["params"]["seq"] for m in stream]
            assert seqs == list(range(seqs[0], seqs[0] + trades)), "gap-free, in order"
            assert [m["params"]["data"]["trade_id"] for m in stream] == reference, "same messages, same order"
        for client in subscribers + [seller, buyer]:
            await client.close()
    run(scenario())


def test_slow_public_consumer_loses_public_data_only_and_memory_stays_bounded(plane_gateway):
    _, seller_key_id, seller_key = trader(plane_gateway, "flood-seller")
    _, buyer_key_id, buyer_key = trader(plane_gateway, "flood-buyer")
    channels = [f"trades.{INSTRUMENT}", f"book.{INSTRUMENT}"]
    # The consumer that never reads: a tiny receive window, so the server's queue fills quickly.
    stuck = raw_opened(plane_gateway, rcvbuf=4096, timeout=60)
    assert "result" in raw_call(stuck, "subscribe", {"channels": channels})
    first_snapshot = stuck.recv_json()
    assert first_snapshot["params"]["data"]["type"] == "snapshot"
    rss_before = rss_kib(plane_gateway)
    drops_before = metric(plane_gateway, "bulwark_slow_consumer_dropped_messages_total")

    async def scenario():
        fast = await Client.connect(plane_gateway.url, plane_gateway.ca)
        assert "result" in await fast.call("subscribe", {"channels": channels})
        received = []

        async def read_fast():
            while True:
                received.append(await fast.recv_json(120))

        reader = asyncio.create_task(read_fast())
        seller = await Client.connect(plane_gateway.url, plane_gateway.ca)
        await seller.login(seller_key_id, seller_key)
        buyer = await Client.connect(plane_gateway.url, plane_gateway.ca)
        await buyer.login(buyer_key_id, buyer_key)
        published = 0
        for _ in range(40):  # rounds until the stuck consumer has lost data (a bound, not a timing)
            await place(seller, "sell", "0.5", "5000.5")
            await pipelined(buyer, buys(500))
            published += 500
            if metric(plane_gateway, "bulwark_slow_consumer_dropped_messages_total") > drops_before:
                break
        assert metric(plane_gateway, "bulwark_slow_consumer_dropped_messages_total") > drops_before
        while len(trade_seqs(received)) < published:
            await asyncio.sleep(0.05)
        reader.cancel()
        # The fast subscriber got everything, gap-free, on both channels.
        seqs = trade_seqs(received)
        assert seqs == list(range(seqs[0], seqs[0] + published))
        book = [m["params"] for m in received if m["params"]["channel"] == f"book.{INSTRUMENT}" and m["params"]["data"]["type"] == "delta"]
        assert all(b["prev_seq"] + 1 == b["seq"] for b in book) and all(a["seq"] == b["prev_seq"] for a, b in zip(book, book[1:]))
        for client in (fast, seller, buyer):
            await client.close()
        return published

    run(scenario())
    # Bounded memory: the stuck consumer's backlog is capped at ws.max_outbound_bytes (64 KiB here);
    # the bound below is generous on purpose (allocator noise), it only catches unbounded growth.
    assert rss_kib(plane_gateway) - rss_before < 150 * 1024
    assert metric(plane_gateway, "bulwark_outbound_queue_peak_bytes") <= 65536

    # The stuck consumer catches up: what it kept arrives in order, then its book is resynchronised
    # with a fresh snapshot whose seq jumps past the dropped deltas.
    trade_numbers, resync = [], None
    while resync is None:
        params = stuck.recv_json()["params"]
        if params["channel"] == f"trades.{INSTRUMENT}":
            trade_numbers.append(params["seq"])
        elif params["data"]["type"] == "snapshot":
            resync = params
    assert trade_numbers == list(range(trade_numbers[0], trade_numbers[0] + len(trade_numbers)))
    assert resync["seq"] > first_snapshot["params"]["seq"]
    assert metric(plane_gateway, "bulwark_slow_consumer_resyncs_total") >= 1

    # The next trade shows the client the gap in `trades` (seq jumps), and a public slow consumer
    # stays connected.
    async def one_more_trade():
        seller = await Client.connect(plane_gateway.url, plane_gateway.ca)
        await seller.login(seller_key_id, seller_key)
        buyer = await Client.connect(plane_gateway.url, plane_gateway.ca)
        await buyer.login(buyer_key_id, buyer_key)
        await place(seller, "sell", "0.001", "5000.5")
        await place(buyer, "buy", "0.001", "5001", tif="ioc")
        await seller.close()
        await buyer.close()
    run(one_more_trade())
    while True:
        params = stuck.recv_json()["params"]
        if params["channel"] == f"trades.{INSTRUMENT}":
            assert params["seq"] > trade_numbers[-1] + 1
            break
    assert "result" in raw_call(stuck, "public/ping")
    stuck.close()


def test_slow_private_consumer_is_closed_with_4004(plane_gateway):
    _, key_id, key = trader(plane_gateway, "private-flood")
    stuck = raw_opened(plane_gateway, rcvbuf=4096, timeout=60)
    raw_login(stuck, key_id, key)
    assert "result" in raw_call(stuck, "subscribe", {"channels": ["orders", "balances"]})
    closes_before = metric(plane_gateway, "bulwark_slow_consumer_closes_total")

    async def scenario():
        active = await Client.connect(plane_gateway.url, plane_gateway.ca)
        await active.login(key_id, key)
        for _ in range(60):  # rounds until the private stream no longer fits (a bound, not a timing)
            orders = [("private/order.place", {"instrument": INSTRUMENT, "side": "buy", "type": "limit", "qty": "0.001",
                                               "price": "4990", "tif": "gtc", "client_order_id": secrets.token_hex(8)})
                      for _ in range(100)]
            await pipelined(active, orders)
            assert "result" in await active.call("private/order.cancel_all", {"instrument": INSTRUMENT})
            if metric(plane_gateway, "bulwark_slow_consumer_closes_total") > closes_before:
                break
        # The publishing connection of the same account is unaffected.
        assert "result" in await active.call("public/ping")
        await active.close()

    run(scenario())
    assert metric(plane_gateway, "bulwark_slow_consumer_closes_total") > closes_before
    # Private data was never skipped: what the stuck client reads is a gap-free prefix, then 4004.
    seqs = {}
    while True:
        opcode, payload = stuck.recv_frame()
        if opcode == 0x8:
            assert struct.unpack("!H", payload[:2])[0] == 4004
            break
        if opcode == 0x1:
            params = json.loads(payload).get("params", {})
            if "seq" in params:
                seqs.setdefault(params["channel"], []).append(params["seq"])
    for channel, numbers in seqs.items():
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), channel
    stuck.close()


# --- metrics --------------------------------------------------------------------------------------

def test_metrics_endpoint(plane_gateway, gateway):
    client = raw_opened(plane_gateway)
    client.send_frame(0x1, b"\xff")  # invalid UTF-8: one close with 1007
    assert client.recv_until_close() == 1007
    client.close()
    status, content_type, text = http_get(plane_gateway, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    for needle in ('bulwark_connections{state="open"}', 'bulwark_connections{state="handshaking"}',
                   'bulwark_ws_frames_total{direction="in"}', 'bulwark_ws_bytes_total{direction="out"}',
                   'bulwark_ws_closes_total{code="1007",initiator="server"}', "bulwark_slow_consumer_events_total",
                   "bulwark_outbound_queue_bytes", "bulwark_subscriptions"):
        assert needle in text, needle
    # Off by default on the public listener (the admin listener serves /admin/v1/metrics).
    assert http_get(gateway, "/metrics")[0] == 404
