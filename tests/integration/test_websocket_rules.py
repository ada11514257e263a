"""RFC 6455 rules and upgrade refusals, with hand-built frames (see raw_websocket.py)."""
import json

import pytest

from raw_websocket import RawConnection

TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def opened(gateway, **kwargs):
    connection = RawConnection(gateway.url, gateway.ca, **kwargs)
    assert connection.status == 101, connection.response_head
    opcode, payload = connection.recv_frame()
    assert opcode == TEXT and json.loads(payload)["method"] == "hello"
    return connection


def request(method, id=1):
    return json.dumps({"jsonrpc": "2.0", "id": id, "method": method}).encode()


@pytest.mark.parametrize("headers, version, path, status", [
    ((), "8", None, 426),
    (("Origin: https://evil.example",), "13", None, 403),
    ((), "13", "/ws/v1?token=secret", 400),
    ((), "13", "/elsewhere", 404),
])
def test_upgrade_refusals(gateway, headers, version, path, status):
    connection = RawConnection(gateway.url, gateway.ca, extra_headers=headers, version=version, path=path)
    assert connection.status == status, connection.response_head
    assert "strict-transport-security: max-age=31536000" in connection.response_head.lower()
    assert "server:" not in connection.response_head.lower()
    if status == 426:
        assert "sec-websocket-version: 13" in connection.response_head.lower()
    connection.close()


@pytest.mark.parametrize("send, code", [
    (lambda c: c.send_frame(TEXT, request("public/time"), mask=False), 1002),
    (lambda c: c.send_frame(TEXT, request("public/time"), rsv=4), 1002),
    (lambda c: c.send_frame(0x3, b"x"), 1002),
    (lambda c: c.send_frame(CONT, b"x"), 1002),
    (lambda c: (c.send_frame(TEXT, b"{", fin=False), c.send_frame(TEXT, b"}")), 1002),
    # Binary frames are sealed frames (PROTOCOL §5): without session keys, 4005.
    (lambda c: c.send_frame(BINARY, b"\x01\x02"), 4005),
    (lambda c: c.send_frame(TEXT, b'{"a":"\xff"}'), 1007),
    (lambda c: (c.send_frame(TEXT, b'{"a":"\xe2\x82', fin=False), c.send_frame(CONT, b'"}')), 1007),
    (lambda c: c.send_frame(TEXT, b"x" * 65537), 1009),
    (lambda c: [c.send_frame(TEXT if i == 0 else CONT, b"x" * 1100, fin=False) for i in range(61)], 1009),
    (lambda c: [c.send_frame(TEXT if i == 0 else CONT, b"x", fin=False) for i in range(65)], 1009),
    (lambda c: c.send_frame(CLOSE, b"\x03\xe8"[:1]), 1002),
    (lambda c: c.send_frame(CLOSE, (1005).to_bytes(2, "big")), 1002),
    (lambda c: c.send_frame(CLOSE, (1000).to_bytes(2, "big") + b"\xff"), 1007),
    (lambda c: c.send_frame(CLOSE, (4000).to_bytes(2, "big") + b"bye"), 4000),
])
def test_protocol_violations_close_with_their_code(gateway, send, code):
    connection = opened(gateway)
    send(connection)
    assert connection.recv_until_close() == code
    connection.close()


def test_fragmented_message_at_the_size_limit_is_served(gateway):
    connection = opened(gateway)
    body = request("public/time")
    padded = body[:-1] + b"," + b'"pad":"' + b"x" * 1000 + b'"}'
    connection.send_frame(TEXT, padded[:10], fin=False)
    connection.send_frame(CONT, padded[10:20], fin=False)
    connection.send_frame(CONT, padded[20:])
    opcode, payload = connection.recv_frame()
    # The envelope has an unknown top-level member, so this is invalid_request: parsed after reassembly.
    assert json.loads(payload)["error"]["message"] == "invalid_request"
    connection.close()


def test_ping_is_answered_with_the_same_payload(gateway):
    connection = opened(gateway)
    connection.send_frame(PING, b"hi")
    assert connection.recv_frame() == (PONG, b"hi")
    connection.send_frame(TEXT, request("public/ping"))
    opcode, payload = connection.recv_frame()
    assert "result" in json.loads(payload)
    connection.close()


def test_in_flight_bound_answers_rate_limited(gateway):
    connection = opened(gateway)
    # 200 requests in one burst: anything beyond ws.max_in_flight (32) queued at once is refused,
    # never buffered without bound; every request gets exactly one answer.
    for i in range(200):
        connection.send_frame(TEXT, json.dumps({"jsonrpc": "2.0", "id": i, "method": "public/instruments"}).encode())
    answers = {}
    while len(answers) < 200:
        opcode, payload = connection.recv_frame()
        message = json.loads(payload)
        answers[message["id"]] = message
    limited = [m for m in answers.values() if "error" in m]
    assert all(m["error"]["message"] == "rate_limited" and m["error"]["data"]["bucket"] == "in_flight" for m in limited)
    assert len(answers) == 200
    connection.close()
