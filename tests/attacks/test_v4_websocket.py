"""ASVS 5.0 V4.4 (WebSocket), V4.1.3 (intermediary headers), V2.4 (anti-automation): attacks on the
upgrade and on RFC 6455 framing. Case ids (C13…) are the catalogue's in shared/reference
security-standards.md "test catalogue"; docs/security-model.md maps them to ASVS requirements."""
import asyncio
import json
import os
import socket
import ssl
import time

import pytest
import websockets

from attack import (ALLOWED_ORIGIN, BINARY, CLOSE, CONT, PING, PONG, TEXT, connect, frame_header_only, host_port,
                    logged_in, raw_opened, request_bytes, run, server_closed_tcp, tls_context, trader)
from raw_websocket import RawConnection


# --- the upgrade -----------------------------------------------------------------------------------

@pytest.mark.parametrize("origin", [
    "https://evil.example",
    "https://app.bulwark.test.evil.example",     # suffix
    "https://evil-app.bulwark.test",              # prefix
    "http://app.bulwark.test",                    # scheme downgrade
    "https://app.bulwark.test:8443",              # other port
    "null",                                       # sandboxed iframe / file://
    "https://APP.BULWARK.TEST",                   # no case folding
])
def test_c13_cswsh_foreign_origin_is_refused_403_before_101(target, origin):
    connection = RawConnection(target.url, target.ca, extra_headers=(f"Origin: {origin}",))
    assert connection.status == 403, connection.response_head
    connection.close()


def test_c13_the_allowed_origin_upgrades(target):
    connection = raw_opened(target, extra_headers=(f"Origin: {ALLOWED_ORIGIN}",))
    connection.close()


@pytest.mark.parametrize("path", [
    "/ws/v1?token=eyJhbGciOiJFZERTQSJ9.e30.sig",
    "/ws/v1?access_token=abc",
    "/ws/v1?api_key=k_1&signature=abc",
    "/ws/v1?",
])
def test_c15_credentials_in_the_query_string_are_refused_400(target, path):
    connection = RawConnection(target.url, target.ca, path=path)
    assert connection.status == 400, connection.response_head
    connection.close()


@pytest.mark.parametrize("headers", [
    {"X-Forwarded-For": "203.0.113.7"},
    {"X-Forwarded-For": "203.0.113.7, 198.51.100.1"},
    {"X-Real-IP": "203.0.113.7"},
    {"Forwarded": "for=203.0.113.7"},
    {"True-Client-IP": "203.0.113.7", "CF-Connecting-IP": "203.0.113.7"},
])
def test_c20_spoofed_forwarding_headers_are_ignored(target, headers):
    who = trader(target)

    async def scenario():
        client = await logged_in(target, who, ip="127.0.3.4", additional_headers=headers)
        status = (await client.call("private/session.status"))["result"]
        assert status["client_ip"] == "127.0.3.4", status
        await client.close()
    run(scenario())


def test_c17_header_block_over_8_kib_is_431(target):
    connection = RawConnection(target.url, target.ca, extra_headers=("X-Pad: " + "a" * 9000,))
    assert connection.status == 431
    connection.close()


def test_c17_one_megabyte_header_value_is_431_without_reading_it_all(target):
    # The refusal comes from the header counter, before the HTTP parser buffers the block; the
    # client's send may fail midway because the server has already answered and closed.
    host, port = host_port(target)
    sock = tls_context(target).wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname="localhost")
    head = b"GET /ws/v1 HTTP/1.1\r\nHost: localhost\r\nX-Big: "
    try:
        sock.sendall(head + b"a" * (1 << 20))
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass
    response = sock.recv(4096)
    assert response.startswith(b"HTTP/1.1 431"), response[:80]
    sock.close()


def test_c17_header_flood_of_60_fields_is_400(target):
    connection = RawConnection(target.url, target.ca, extra_headers=tuple(f"X-H{i}: 1" for i in range(60)))
    assert connection.status == 400
    connection.close()


def test_c19_ten_thousand_subprotocols_are_refused_431(target):
    offer = ", ".join(f"p{i}" for i in range(10000))
    connection = RawConnection(target.url, target.ca, extra_headers=(f"Sec-WebSocket-Protocol: {offer}",))
    assert connection.status == 431
    connection.close()


def test_c18_slowloris_silent_and_trickling_sockets_are_dropped_while_others_are_served(target):
    host, port = host_port(target)
    silent = socket.create_connection((host, port))
    trickle = tls_context(target).wrap_socket(socket.create_connection((host, port)), server_hostname="localhost")
    trickle.sendall(b"GET /ws/v1 HTTP/1.1\r\n")
    started = time.monotonic()
    # Meanwhile an honest client is served (the slow sockets hold no shared resource).
    run(_public_time(target))
    trickle.sendall(b"Host: localhost\r\n")
    assert server_closed_tcp(silent) and server_closed_tcp(trickle)
    assert time.monotonic() - started < 30   # the 5 s handshake deadline, not "never"
    silent.close()
    trickle.close()


async def _public_time(server):
    client = await connect(server)
    assert "result" in await client.call("public/time")
    await client.close()


def test_c33_compression_is_never_negotiated(target):
    connection = RawConnection(target.url, target.ca,
                               extra_headers=("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",))
    assert connection.status == 101
    assert "sec-websocket-extensions" not in connection.response_head.lower()
    connection.close()


# --- frames ----------------------------------------------------------------------------------------

def closes_with(server, send, code):
    connection = raw_opened(server)
    send(connection)
    assert connection.recv_until_close() == code
    connection.close()


def test_c22_unmasked_client_frame_closes_1002(target):
    closes_with(target, lambda c: c.send_frame(TEXT, request_bytes("public/time"), mask=False), 1002)


@pytest.mark.parametrize("rsv", [4, 2, 1])
def test_c23_reserved_bits_close_1002(target, rsv):
    closes_with(target, lambda c: c.send_frame(TEXT, request_bytes("public/time"), rsv=rsv), 1002)


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_c23_reserved_opcodes_close_1002(target, opcode):
    closes_with(target, lambda c: c.send_frame(opcode, b"x"), 1002)


def test_c24_ping_over_125_bytes_closes_1002(target):
    closes_with(target, lambda c: c.send_frame(PING, b"p" * 126), 1002)


def test_c24_fragmented_ping_closes_1002(target):
    closes_with(target, lambda c: c.send_frame(PING, b"p", fin=False), 1002)


@pytest.mark.parametrize("payload", [
    b'{"a":"\xff"}',                 # never valid
    b'{"a":"\xc0\xaf"}',             # overlong "/"
    b'{"a":"\xed\xa0\x80"}',         # lone surrogate U+D800
    b'{"a":"\xf4\x90\x80\x80"}',     # beyond U+10FFFF
])
def test_c25_invalid_utf8_closes_1007(target, payload):
    closes_with(target, lambda c: c.send_frame(TEXT, payload), 1007)


def test_c25_invalid_utf8_split_across_fragments_closes_1007(target):
    closes_with(target, lambda c: (c.send_frame(TEXT, b'{"a":"\xe2\x82', fin=False), c.send_frame(CONT, b'"}')), 1007)


def test_c26_frame_over_64_kib_closes_1009(target):
    closes_with(target, lambda c: c.send_frame(TEXT, b"x" * 65537), 1009)


@pytest.mark.parametrize("length", [1 << 30, (1 << 63) - 1])
def test_c26_frame_header_announcing_a_huge_length_closes_1009_before_any_payload(target, length):
    closes_with(target, lambda c: c.sock.sendall(frame_header_only(length)), 1009)


def test_c27_endless_one_byte_fragments_close_1009_at_the_65th(target):
    closes_with(target, lambda c: [c.send_frame(TEXT if i == 0 else CONT, b"[", fin=False) for i in range(65)], 1009)


def test_c27_fragments_past_the_message_size_close_1009(target):
    closes_with(target, lambda c: [c.send_frame(TEXT if i == 0 else CONT, b"x" * 8192, fin=False) for i in range(9)], 1009)


def test_c28_continuation_without_a_start_closes_1002(target):
    closes_with(target, lambda c: c.send_frame(CONT, b"x"), 1002)


def test_c28_new_message_inside_a_fragmented_one_closes_1002(target):
    closes_with(target, lambda c: (c.send_frame(TEXT, b"{", fin=False), c.send_frame(TEXT, b"}")), 1002)


@pytest.mark.parametrize("code", [1005, 1006, 1015, 999, 1004, 2999, 5000])
def test_c29_close_frame_with_a_reserved_code_is_answered_1002(target, code):
    closes_with(target, lambda c: c.send_frame(CLOSE, code.to_bytes(2, "big")), 1002)


def test_c29_close_reason_with_invalid_utf8_is_answered_1007(target):
    closes_with(target, lambda c: c.send_frame(CLOSE, (1000).to_bytes(2, "big") + b"\xff"), 1007)


def test_c29_normal_close_is_echoed(target):
    closes_with(target, lambda c: c.send_frame(CLOSE, (1000).to_bytes(2, "big")), 1000)


def test_binary_frame_without_session_keys_closes_4005(target):
    closes_with(target, lambda c: c.send_frame(BINARY, os.urandom(40)), 4005)


def test_c32_unsolicited_pong_is_ignored(target):
    connection = raw_opened(target)
    connection.send_frame(PONG, b"spoofed heartbeat")
    connection.send_frame(TEXT, request_bytes("public/ping"))
    assert "result" in connection.recv_json()
    connection.close()


# --- floods and slow readers -----------------------------------------------------------------------

def test_c31_message_flood_is_refused_per_bucket_then_closed_4008(flood_target):
    """1,000 requests at once on one connection (limit 10/s): the first are served, the rest are
    answered `rate_limited` (bucket `messages`, or `in_flight` beyond 32 queued) and sustained abuse
    ends with close 4008."""
    async def scenario():
        client = await connect(flood_target, ip="127.0.31.1")
        for i in range(1000):
            try:
                await client.ws.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": "public/ping"}))
            except websockets.ConnectionClosed:
                break
        answers = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                answers.append(json.loads(await asyncio.wait_for(client.ws.recv(), 30)))
        served = [a for a in answers if "result" in a]
        refused = [a for a in answers if "error" in a]
        assert 1 <= len(served) <= 20, len(served)
        # Refused by the message bucket (and, for a burst this size, by the in-flight bound too).
        assert all(a["error"]["message"] == "rate_limited" and a["error"]["data"]["bucket"] in ("messages", "in_flight")
                   for a in refused)
        assert any(a["error"]["data"]["bucket"] == "messages" for a in refused)
        assert closed.value.rcvd.code == 4008 and closed.value.rcvd.reason == "rate_limit_abuse"
    run(scenario())


def test_c30_a_client_that_never_reads_is_cut_off_and_memory_stays_bounded(target):
    """A client that sends requests with large answers and never reads: the server's outbound queue
    for it is bounded (1 MiB + the socket's buffer) and the client is closed (4004); the server's
    RSS does not grow by the volume of answers requested (about 200 MiB here)."""
    before = rss_kib(target)
    connection = raw_opened(target, rcvbuf=4096)
    connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    sent = 0
    connection.sock.settimeout(30)
    try:
        for i in range(20000):
            connection.send_frame(TEXT, request_bytes("public/instruments", request_id=i))
            sent += 1
    except (BrokenPipeError, ConnectionResetError, OSError):
        pass
    # The server must end this connection; reading now drains what it queued before it did.
    assert server_closed_tcp(connection.sock, timeout=60)
    connection.close()
    assert sent > 1000
    assert rss_kib(target) - before < 200 * 1024, (before, rss_kib(target))


def rss_kib(server):
    with open(f"/proc/{server.process.pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1])
