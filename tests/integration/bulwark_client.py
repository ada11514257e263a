"""A small test client for the Bulwark wire protocol, written from PROTOCOL.md only.

It uses third-party libraries the gateway does not share code with: `websockets` for RFC 6455,
`cryptography` for Ed25519/ECDSA, Python's `ssl` for TLS.
"""
import asyncio
import base64
import json
import os
import secrets
import ssl
import time

import websockets
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_string(key_id, challenge, timestamp_ms, nonce, scopes, kx_hash=""):
    scope_line = " ".join(sorted(scopes)) if scopes else ""
    return "\n".join(["BULWARK-AUTH-1", key_id, challenge, str(timestamp_ms), nonce, scope_line, kx_hash])


class Ed25519Key:
    type = "ed25519"

    def __init__(self):
        self.private = ed25519.Ed25519PrivateKey.generate()

    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


class P256Key:
    type = "es256"

    def __init__(self):
        self.private = ec.generate_private_key(ec.SECP256R1())

    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class Client:
    """One WebSocket connection: request/response matching plus a queue of notifications."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.hello = None
        self.challenge = None
        self.notifications = []

    @classmethod
    async def connect(cls, url, ca_file, **kwargs):
        tls = ssl.create_default_context(cafile=ca_file) if url.startswith("wss") else None
        ws = await websockets.connect(url, ssl=tls, subprotocols=["bulwark.v1"], open_timeout=10, **kwargs)
        client = cls(ws)
        client.hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert client.hello["method"] == "hello"
        client.challenge = client.hello["params"]["challenge"]
        return client

    async def send_raw(self, text):
        await self.ws.send(text)

    async def recv_json(self, timeout=10):
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def call(self, method, params=None, timeout=10):
        self.next_id += 1
        request_id = self.next_id
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            reply = await self.recv_json(max(0.1, deadline - time.monotonic()))
            if reply.get("id") == request_id:
                return reply
            self.notifications.append(reply)

    def auth_params(self, key_id, key, scopes=None, timestamp_ms=None, nonce=None, challenge=None, kx=None, **extra):
        """`kx` is a sealed.KeyOffer: its shares go in `kx` and its hash is the signed string's last line."""
        timestamp_ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        nonce = nonce or b64u(secrets.token_bytes(16))
        text = signing_string(key_id, challenge or self.challenge, timestamp_ms, nonce, scopes, kx.hash() if kx else "")
        params = {"grant_type": "signature", "key_id": key_id, "timestamp_ms": timestamp_ms, "nonce": nonce,
                  "signature": b64u(key.sign(text.encode()))}
        if scopes is not None:
            params["scopes"] = scopes
        if kx is not None:
            params["kx"] = kx.params()
        params.update(extra)
        return params

    async def login(self, key_id, key, scopes=None, **extra):
        reply = await self.call("public/auth", self.auth_params(key_id, key, scopes, **extra))
        assert "result" in reply, reply
        self.challenge = reply["result"]["challenge"]
        return reply["result"]

    async def drain(self, seconds):
        """Everything received within `seconds` (notifications already buffered first)."""
        received = list(self.notifications)
        self.notifications.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (remaining := deadline - loop.time()) > 0:
            try:
                received.append(await self.recv_json(timeout=remaining))
            except asyncio.TimeoutError:
                break
        return received

    async def next_notification(self, predicate, timeout=10):
        for i, message in enumerate(self.notifications):
            if predicate(message):
                return self.notifications.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching notification")
            message = await self.recv_json(remaining)
            if predicate(message):
                return message
            self.notifications.append(message)

    async def close(self):
        await self.ws.close()


def channel_is(name):
    return lambda m: m.get("method") == "subscription" and m["params"]["channel"] == name
