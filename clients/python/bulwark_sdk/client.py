"""The asyncio client: one object per logical session, which survives reconnects.

What it does for you:
- TLS with your CA file, the `bulwark.v1` subprotocol, strict JSON;
- signature logins bound to the connection's challenge (Ed25519, P-256, ML-DSA-65, HMAC), or a
  bearer token with a DPoP proof (see `oauth.py`);
- optional session keys and sealed frames for every private request;
- renewal in place when the gateway sends `session.expiring`;
- reconnects with jittered exponential backoff, resuming the session: subscriptions come back and
  every private event missed in between is replayed once (duplicates are dropped by `private_seq`);
- subscriptions with gap detection, and order books rebuilt from snapshot + deltas (a gap asks for a
  fresh snapshot);
- order helpers that generate `client_order_id`s, so a retried order can never execute twice;
- rate-limit awareness: a `rate_limited` answer waits `retry_after_ms` and retries (idempotent calls);
- clock-skew measurement with `public/time`, applied to login timestamps.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import ssl
import time
import uuid
from collections import defaultdict
from typing import Any, Awaitable, Callable

import websockets

from .book import OrderBook
from .keys import Signer, b64u, b64u_decode, signing_string
from .sealing import AEAD, KeyOffer, SealedChannel, SealedFrameError

log = logging.getLogger("bulwark_sdk")

Handler = Callable[[dict], Awaitable[None] | None]


class BulwarkError(Exception):
    """An error answer: `code` and `message` from PROTOCOL.md §8, `data` as sent."""

    def __init__(self, error: dict):
        self.code = error.get("code")
        self.message = error.get("message")
        self.data = error.get("data", {})
        super().__init__(f"{self.code} {self.message} {self.data}")


class SessionEnded(Exception):
    """The gateway ended the session (revoked, expired, risk, kill switch): no automatic resume."""


def new_client_order_id(prefix: str = "sdk") -> str:
    """A fresh id (1-36 of [A-Za-z0-9_-]): reuse it to retry the same order safely."""
    return f"{prefix}-{uuid.uuid4().hex[:24]}"[:36]


class BulwarkClient:
    def __init__(self, url: str, ca_file: str | None = None, *, identity_public_key: str | None = None,
                 reconnect: bool = True, max_backoff_s: float = 10.0, rate_limit_retries: int = 3,
                 open_timeout: float = 10.0, local_addr: tuple | None = None):
        self.url = url
        self.tls = ssl.create_default_context(cafile=ca_file) if url.startswith("wss") else None
        self.identity_public = b64u_decode(identity_public_key) if identity_public_key else None
        self.reconnect = reconnect
        self.max_backoff_s = max_backoff_s
        self.rate_limit_retries = rate_limit_retries
        self.open_timeout = open_timeout
        self.local_addr = local_addr
        self.ws = None
        self.challenge: str | None = None
        self.session_id: str | None = None
        self.login_result: dict | None = None
        self.clock_offset_ms = 0
        self.last_private_seq = 0
        self.subscriptions: set[str] = set()
        self.books: dict[str, OrderBook] = {}
        self.channel_seq: dict[str, int] = {}
        self.gaps = 0
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._pending: dict[int, asyncio.Future] = {}
        self._next_id = 0
        self._reader: asyncio.Task | None = None
        self._sealed: SealedChannel | None = None
        self._next_sealed: SealedChannel | None = None
        self._sealed_mode = AEAD
        self._login: Callable[..., Awaitable[dict]] | None = None
        self._closing = False
        self._ended: SessionEnded | None = None
        self.reconnects = 0

    # ---------------------------------------------------------------- connection

    async def connect(self) -> dict:
        """Opens the socket, reads `hello`, and measures the clock offset."""
        kwargs = {"local_addr": self.local_addr} if self.local_addr else {}
        self.ws = await websockets.connect(self.url, ssl=self.tls, subprotocols=["bulwark.v1"],
                                           open_timeout=self.open_timeout, max_size=1 << 20, **kwargs)
        hello = json.loads(await asyncio.wait_for(self.ws.recv(), self.open_timeout))
        if hello.get("method") != "hello":
            raise BulwarkError({"message": "expected hello"})
        self.challenge = hello["params"]["challenge"]
        self._reader = asyncio.create_task(self._read_loop())
        await self.measure_clock()
        return hello

    async def measure_clock(self) -> int:
        """`server_time - local_time` from `public/time`, halving the round trip; used for logins."""
        sent = time.time() * 1000
        result = await self.call("public/time", sealed=False)
        received = time.time() * 1000
        self.clock_offset_ms = int(result["server_time_ms"] - (sent + received) / 2)
        return self.clock_offset_ms

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    async def close(self) -> None:
        self._closing = True
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    # ---------------------------------------------------------------- logins

    async def login_with_key(self, key_id: str, signer: Signer, scopes: list[str] | None = None, *,
                             session_keys: str | None = None, hybrid: bool = False,
                             cancel_on_disconnect: dict | None = None) -> dict:
        """The signature grant. `session_keys` `"aead"` or `"mac"` agrees keys and seals every private
        request from then on. Remembered, so renewal and resume sign again by themselves."""
        async def login(resume: dict | None = None) -> dict:
            offer = KeyOffer(hybrid=hybrid) if session_keys else None
            signed_challenge = self.challenge
            nonce = b64u(secrets.token_bytes(16))
            timestamp = self.now_ms()
            text = signing_string(key_id, signed_challenge, timestamp, nonce, scopes, offer.hash() if offer else "")
            params: dict[str, Any] = {"grant_type": "signature", "key_id": key_id, "timestamp_ms": timestamp, "nonce": nonce,
                                      "signature": b64u(signer.sign(text))}
            if scopes is not None:
                params["scopes"] = scopes
            if offer:
                params["kx"] = offer.params()
            if cancel_on_disconnect:
                params["cancel_on_disconnect"] = cancel_on_disconnect
            if resume:
                params["resume"] = resume
            result = await self.call("public/auth", params)
            if offer:
                keys = offer.finish(result["kx"], signed_challenge, result["session_id"], self.identity_public)
                self._next_sealed = SealedChannel(keys, mode=AEAD if session_keys == "aead" else 0x01)
            else:
                self._next_sealed = None
            return result
        self._login = login
        return await self._do_login()

    async def login_with_token(self, access_token: str, dpop: Callable[[str], str] | None = None) -> dict:
        """The bearer grant; `dpop(challenge)` returns a DPoP proof bound to the connection's challenge."""
        async def login(resume: dict | None = None) -> dict:
            params: dict[str, Any] = {"grant_type": "bearer", "access_token": access_token}
            if dpop is not None:
                params["dpop"] = dpop(self.challenge)
            self._next_sealed = None
            return await self.call("public/auth", params)
        self._login = login
        return await self._do_login()

    async def _do_login(self, resume: dict | None = None) -> dict:
        result = await self._login(resume)
        self.challenge = result["challenge"]
        self.session_id = result["session_id"]
        self.login_result = result
        # New keys take over after the login's answer (which came under the old ones, if any).
        self._sealed = self._next_sealed
        return result

    # ---------------------------------------------------------------- requests

    async def call(self, method: str, params: dict | None = None, *, sealed: bool | None = None, timeout: float = 10.0) -> dict:
        """Sends one request and returns its `result`; raises `BulwarkError` for an error answer.
        Private methods go sealed when session keys exist (unless `sealed=False`). A `rate_limited`
        answer is retried after `retry_after_ms`, up to `rate_limit_retries` times."""
        attempts = 0
        while True:
            try:
                return await self._call_once(method, params, sealed, timeout)
            except BulwarkError as error:
                if error.message != "rate_limited" or attempts >= self.rate_limit_retries:
                    raise
                attempts += 1
                await asyncio.sleep(error.data.get("retry_after_ms", 100) / 1000)

    async def _call_once(self, method: str, params: dict | None, sealed: bool | None, timeout: float) -> dict:
        if self.ws is None:
            raise ConnectionError("not connected")
        self._next_id += 1
        request_id = self._next_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        payload = json.dumps(message, separators=(",", ":")).encode()
        use_seal = self._sealed is not None and (sealed if sealed is not None else method.startswith("private/"))
        try:
            await self.ws.send(self._sealed.seal(payload) if use_seal else payload.decode())
            reply = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)
        if "error" in reply:
            raise BulwarkError(reply["error"])
        return reply["result"]

    # ---------------------------------------------------------------- notifications

    def on(self, event: str, handler: Handler) -> None:
        """`event` is a channel name (`orders`, `trades.BTC-USD`), a method (`session.expiring`,
        `rate_limit.warning`), `*` for everything, or `resync`: called with the login result after a
        resume that could not replay every missed private event (`replay_complete` false: the
        replay log was outgrown, or the session moved to another gateway node), when the
        application should re-read `private/orders.open` and balances."""
        self._handlers[event].append(handler)

    async def subscribe(self, *channels: str) -> list[str]:
        result = await self.call("subscribe", {"channels": list(channels)})
        self.subscriptions.update(result["channels"])
        for channel in channels:
            if channel.startswith("book."):
                self.books.setdefault(channel[5:], OrderBook(channel[5:]))
        return result["channels"]

    async def unsubscribe(self, *channels: str) -> list[str]:
        result = await self.call("unsubscribe", {"channels": list(channels)})
        self.subscriptions.difference_update(result["channels"])
        return result["channels"]

    async def _dispatch(self, message: dict) -> None:
        if "id" in message and ("result" in message or "error" in message):
            future = self._pending.get(message["id"]) if message["id"] is not None else None
            if future is not None and not future.done():
                future.set_result(message)
            elif message["id"] is None and "error" in message:
                log.warning("gateway error without id: %s", message["error"])
            return
        method = message.get("method")
        if method == "subscription":
            await self._on_channel(message["params"])
        elif method == "session.expiring":
            asyncio.create_task(self._renew())
        elif method == "session.terminated":
            self._ended = SessionEnded(message["params"].get("reason"))
        for handler in self._handlers.get(method, []) + self._handlers.get("*", []):
            outcome = handler(message)
            if asyncio.iscoroutine(outcome):
                await outcome

    async def _on_channel(self, params: dict) -> None:
        channel, seq = params["channel"], params["seq"]
        private_seq = params.get("private_seq")
        if private_seq is not None:
            if private_seq <= self.last_private_seq:
                return   # already seen: a replay after resume, dropped exactly once
            self.last_private_seq = private_seq
        data = params["data"]
        if channel.startswith("book."):
            book = self.books.setdefault(channel[5:], OrderBook(channel[5:]))
            if not book.apply(data, seq, params.get("prev_seq")):
                self.gaps += 1
                asyncio.create_task(self._resnapshot(channel))
        else:
            previous = self.channel_seq.get(channel)
            if previous is not None and seq != previous + 1 and private_seq is None:
                self.gaps += 1
                log.info("gap on %s: %s -> %s", channel, previous, seq)
            self.channel_seq[channel] = seq
        for handler in self._handlers.get(channel, []):
            outcome = handler(params)
            if asyncio.iscoroutine(outcome):
                await outcome

    async def _resnapshot(self, channel: str) -> None:
        """A book gap: unsubscribe and subscribe again for a fresh snapshot."""
        try:
            await self.call("unsubscribe", {"channels": [channel]})
            self.books[channel[5:]] = OrderBook(channel[5:])
            await self.call("subscribe", {"channels": [channel]})
        except Exception as error:   # the connection may be going away; resume handles it
            log.info("resnapshot of %s failed: %s", channel, error)

    async def _renew(self) -> None:
        """`session.expiring`: log in again on the same connection; the session and subscriptions stay."""
        try:
            await self._do_login()
            log.info("session renewed in place")
        except Exception as error:
            log.warning("renewal failed: %s", error)

    # ---------------------------------------------------------------- reading and resuming

    async def _read_loop(self) -> None:
        while True:
            try:
                raw = await self.ws.recv()
            except websockets.ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                for future in self._pending.values():
                    if not future.done():
                        future.set_exception(ConnectionError(f"connection closed ({code})"))
                if self._closing or not self.reconnect or self._login is None or self.session_id is None \
                        or self._ended is not None or code in (1000, 4001, 4002, 4003):
                    return
                asyncio.create_task(self._resume_after_drop())
                return
            try:
                if isinstance(raw, bytes):
                    if self._sealed is None:
                        raise SealedFrameError("sealed frame without session keys")
                    message = json.loads(self._sealed.open(raw))
                else:
                    message = json.loads(raw)
                await self._dispatch(message)
            except SealedFrameError as error:
                log.error("refusing the server's frame: %s", error)
                await self.ws.close(code=1002)
                return

    async def _resume_after_drop(self) -> None:
        """Reconnects with jittered exponential backoff and resumes the session with replay."""
        delay = 0.1
        while not self._closing:
            await asyncio.sleep(delay * (0.5 + random.random()))
            try:
                await self.connect()
                result = await self._do_login({"session_id": self.session_id, "last_private_seq": self.last_private_seq})
                self.reconnects += 1
                self.subscriptions = set(result.get("subscriptions", self.subscriptions))
                log.info("resumed session, %s private events replayed", result.get("replayed"))
                if result.get("replay_complete") is False:
                    # Events were missed that no replay can bring back (the log was outgrown, or the
                    # session moved to another gateway node): the application re-reads its state.
                    log.warning("resume could not replay every missed private event: re-read orders and balances")
                    for handler in self._handlers.get("resync", []):
                        outcome = handler(result)
                        if asyncio.iscoroutine(outcome):
                            await outcome
                return
            except Exception as error:
                log.info("reconnect failed: %s", error)
                delay = min(delay * 2, self.max_backoff_s)

    # ---------------------------------------------------------------- orders

    async def place_limit(self, instrument: str, side: str, qty: str, price: str, tif: str = "gtc",
                          client_order_id: str | None = None, **extra) -> dict:
        """A limit order; retrying with the same `client_order_id` returns the same order."""
        params = {"instrument": instrument, "side": side, "type": "limit", "qty": qty, "price": price, "tif": tif,
                  "client_order_id": client_order_id or new_client_order_id(), **extra}
        return await self.call("private/order.place", params)

    async def place_market(self, instrument: str, side: str, qty: str, client_order_id: str | None = None) -> dict:
        params = {"instrument": instrument, "side": side, "type": "market", "qty": qty, "tif": "ioc",
                  "client_order_id": client_order_id or new_client_order_id()}
        return await self.call("private/order.place", params)

    async def cancel(self, order_id: str) -> dict:
        return await self.call("private/order.cancel", {"order_id": order_id})

    async def cancel_all(self, instrument: str | None = None) -> list[dict]:
        return (await self.call("private/order.cancel_all", {"instrument": instrument} if instrument else {}))["cancelled"]

    async def open_orders(self) -> list[dict]:
        return (await self.call("private/orders.open"))["orders"]

    async def balances(self) -> list[dict]:
        return (await self.call("private/account.balances"))["balances"]

    async def step_up(self, code: str) -> dict:
        """`private/mfa.verify`: a TOTP (or recovery) code raises the session to aal2."""
        return await self.call("private/mfa.verify", {"code": code})
