#!/usr/bin/env python3
"""Five-minute Bulwark walkthrough: log in with the demo key and buy against the demo market.

Needs `websockets` and `cryptography` (see README). Reads DATA/demo/demo.json, which
`bulwark serve` writes on start: the URL, the CA to trust, the demo key id and its private key file.
"""
import argparse
import asyncio
import base64
import json
import os
import secrets
import ssl
import time

import websockets
from cryptography.hazmat.primitives.serialization import load_pem_private_key


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_string(key_id, challenge, timestamp_ms, nonce, scopes):
    # PROTOCOL.md §4.1: seven lines joined by \n, no trailing newline; the last (kx) empty here.
    return "\n".join(["BULWARK-AUTH-1", key_id, challenge, str(timestamp_ms), nonce, " ".join(sorted(scopes)), ""])


async def main(data_dir: str, instrument: str, qty: str) -> None:
    with open(os.path.join(data_dir, "demo", "demo.json")) as f:
        demo = json.load(f)
    with open(demo["private_key"], "rb") as f:
        private_key = load_pem_private_key(f.read(), password=None)

    tls = ssl.create_default_context(cafile=demo["ca_cert"])  # trust the development CA only
    async with websockets.connect(demo["url"], ssl=tls, subprotocols=["bulwark.v1"]) as ws:
        next_id = 0

        async def call(method, params=None):
            nonlocal next_id
            next_id += 1
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params or {}}))
            while True:  # notifications may arrive before our answer
                message = json.loads(await ws.recv())
                if message.get("id") == next_id:
                    return message
                show(message)

        hello = json.loads(await ws.recv())
        print("hello: connection", hello["params"]["connection_id"])

        scopes = ["read", "trade"]
        nonce = b64u(secrets.token_bytes(16))
        timestamp_ms = int(time.time() * 1000)
        text = signing_string(demo["key_id"], hello["params"]["challenge"], timestamp_ms, nonce, scopes)
        auth = await call("public/auth", {
            "grant_type": "signature", "key_id": demo["key_id"], "timestamp_ms": timestamp_ms,
            "nonce": nonce, "scopes": scopes, "signature": b64u(private_key.sign(text.encode())),
        })
        if "error" in auth:
            raise SystemExit(f"login failed: {auth['error']}")
        print("logged in: session", auth["result"]["session_id"], "scopes", auth["result"]["scopes"])

        sub = await call("subscribe", {"channels": [f"book.{instrument}", f"trades.{instrument}", "fills"]})
        print("subscribed:", sub["result"]["channels"])
        book = json.loads(await ws.recv())
        asks = book["params"]["data"]["asks"]
        print("best ask:", asks[0] if asks else "none")

        order = await call("private/order.place", {
            "instrument": instrument, "side": "buy", "type": "market", "qty": qty, "tif": "ioc",
            "client_order_id": "walkthrough-" + secrets.token_hex(6),
        })
        print("order:", json.dumps(order.get("result", order.get("error"))))

        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                show(json.loads(await asyncio.wait_for(ws.recv(), timeout=deadline - time.monotonic())))
            except asyncio.TimeoutError:
                break
        balances = await call("private/account.balances")
        print("balances:", json.dumps(balances["result"]))


def show(message):
    params = message.get("params", {})
    if message.get("method") == "subscription" and params.get("channel", "").startswith(("trades.", "fills")):
        print(f"{params['channel']} #{params['seq']}: {json.dumps(params['data'])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=".bulwark", help="the gateway's data folder")
    parser.add_argument("--instrument", default="BTC-USD")
    parser.add_argument("--qty", default="0.01")
    args = parser.parse_args()
    asyncio.run(main(args.data, args.instrument, args.qty))
