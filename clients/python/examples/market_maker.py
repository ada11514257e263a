#!/usr/bin/env python3
"""A small market maker for the demo market: quotes a bid and an ask around the mid price, requotes
when the book moves, and cancels everything on exit. Logs in with the demo key, asks the gateway to
cancel its orders if the connection drops (cancel_on_disconnect), and arms the dead-man's switch.

    python market_maker.py --data .bulwark [--seconds 30]
"""
import argparse
import asyncio
import json
import os
from decimal import Decimal

from bulwark_sdk import BulwarkClient, BulwarkError, Ed25519Signer


async def main(data: str, seconds: float, instrument: str, qty: str, spread_ticks: int) -> None:
    demo = json.load(open(os.path.join(data, "demo", "demo.json")))
    client = BulwarkClient(demo["url"], demo["ca_cert"])
    await client.connect()
    await client.login_with_key(demo["key_id"], Ed25519Signer.from_pem_file(demo["private_key"]), ["read", "trade"],
                                cancel_on_disconnect={"scope": "session", "grace_ms": 5000})
    await client.call("private/cancel_all_after", {"timeout_ms": 10_000})
    instruments = (await client.call("public/instruments"))["instruments"]
    tick = Decimal(next(i for i in instruments if i["symbol"] == instrument)["tick_size"])
    await client.subscribe(f"book.{instrument}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    quotes: list[str] = []
    while loop.time() < deadline:
        book = client.books.get(instrument)
        if book and book.best_bid() and book.best_ask():
            mid = (book.best_bid()[0] + book.best_ask()[0]) / 2
            bid = (mid - tick * spread_ticks).quantize(tick)
            ask = (mid + tick * spread_ticks).quantize(tick)
            for order_id in quotes:
                try:
                    await client.cancel(order_id)
                except BulwarkError:
                    pass   # filled meanwhile
            quotes = []
            for side, price in (("buy", bid), ("sell", ask)):
                try:
                    placed = await client.place_limit(instrument, side, qty, str(price), tif="post_only")
                    quotes.append(placed["order_id"])
                except BulwarkError as error:
                    print(f"quote refused: {error.message}")
            print(f"quoted {bid} / {ask}", flush=True)
            await client.call("private/cancel_all_after", {"timeout_ms": 10_000})   # re-arm the dead-man's switch
        await asyncio.sleep(1)
    cancelled = await client.cancel_all(instrument)
    await client.call("private/cancel_all_after", {"timeout_ms": 0})
    print(f"cancelled all ({len(cancelled)} order(s))", flush=True)
    await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=".bulwark")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--instrument", default="BTC-USD")
    parser.add_argument("--qty", default="0.01")
    parser.add_argument("--spread-ticks", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.data, args.seconds, args.instrument, args.qty, args.spread_ticks))
