"""Helpers for the attack suite: accounts and keys, connections, and the "still serving" check."""
import asyncio
import json
import secrets
import socket
import ssl
import struct
from dataclasses import dataclass

import websockets

from bulwark_client import Client, Ed25519Key, b64u
from raw_websocket import RawConnection

ALLOWED_ORIGIN = "https://app.bulwark.test"
TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def run(coro):
    return asyncio.run(coro)


def cli(server, *args):
    from conftest import run_cli
    return run_cli(server.data, *args)


@dataclass
class Trader:
    account_id: str
    key_id: str
    key: Ed25519Key


def trader(server, fund="USD=10000000,BTC=100,ETH=100", scopes="read,trade"):
    account_id = cli(server, "accounts", "create", "--name", "atk-" + secrets.token_hex(4), "--fund", fund)["account_id"]
    key = Ed25519Key()
    key_id = cli(server, "keys", "create", "--account", account_id, "--type", "ed25519", "--public-key",
                 b64u(key.public_raw()), "--scopes", scopes)["key_id"]
    return Trader(account_id, key_id, key)


def host_port(server):
    host, port = server.url[len("wss://"):].split("/")[0].rsplit(":", 1)
    return host, int(port)


def tls_context(server):
    return ssl.create_default_context(cafile=server.ca)


async def connect(server, ip=None, **kwargs):
    if ip:
        kwargs["local_addr"] = (ip, 0)
    return await Client.connect(server.url, server.ca, **kwargs)


async def logged_in(server, who, ip=None, **kwargs):
    client = await connect(server, ip, **kwargs)
    await client.login(who.key_id, who.key)
    return client


def limit_order(coid, price="58000", qty="0.01", **extra):
    return {"instrument": "BTC-USD", "side": "buy", "type": "limit", "qty": qty, "price": price, "tif": "gtc",
            "client_order_id": coid, **extra}


def raw_opened(server, **kwargs):
    """A hand-built WebSocket connection past `hello` (for frames libraries refuse to send)."""
    connection = RawConnection(server.url, server.ca, **kwargs)
    assert connection.status == 101, connection.response_head
    opcode, payload = connection.recv_frame()
    assert opcode == TEXT and json.loads(payload)["method"] == "hello"
    return connection


def request_bytes(method, request_id=1, params=None):
    message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode()


async def close_code(client, timeout=10):
    """Reads until the server closes; returns the close code it sent."""
    try:
        while True:
            await asyncio.wait_for(client.ws.recv(), timeout)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def server_closed_tcp(sock, timeout=30):
    """True when the server closes the socket within the (generous) timeout."""
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
        return True
    except socket.timeout:
        return False
    except (ConnectionResetError, ssl.SSLError, OSError):
        return True


_canaries = {}


async def _serve_check(server):
    if server.data not in _canaries:
        _canaries[server.data] = trader(server)
    canary = _canaries[server.data]
    client = await connect(server)
    try:
        assert "result" in await client.call("public/time")
        await client.login(canary.key_id, canary.key)
        placed = await client.call("private/order.place", limit_order("canary-" + secrets.token_hex(6), price="58000"))
        assert placed.get("result", {}).get("status") == "open", placed
        cancelled = await client.call("private/order.cancel", {"order_id": placed["result"]["order_id"]})
        assert cancelled["result"]["status"] == "cancelled", cancelled
    finally:
        await client.close()


def assert_still_serving(server):
    """The gateway process is alive and serves a well-behaved client end to end."""
    assert server.process.poll() is None, f"gateway exited with {server.process.returncode}"
    run(_serve_check(server))


async def eventually(attempt, predicate, timeout=10.0):
    """Repeats `attempt()` until `predicate(result)` holds; the bound only detects "never" (changes
    made by the CLI reach a running gateway through its change feed, polled every 250 ms)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await attempt()
        if predicate(result) or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.05)


def frame_header_only(length):
    """A masked text frame header announcing `length` bytes (64-bit length form), no payload."""
    return struct.pack("!BBQ", 0x81, 0x80 | 127, length) + secrets.token_bytes(4)
