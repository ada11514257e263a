#!/usr/bin/env python3
"""Prints the demo market: best bid and ask of BTC-USD as the book changes, and every trade.

    python market_data_printer.py --data .bulwark [--messages N]
"""
import argparse
import asyncio
import json
import os

from bulwark_sdk import BulwarkClient


async def main(data: str, messages: int, instrument: str) -> None:
    demo = json.load(open(os.path.join(data, "demo", "demo.json")))
    client = BulwarkClient(demo["url"], demo["ca_cert"])
    await client.connect()
    seen = asyncio.Event()
    count = 0

    def on_book(params):
        nonlocal count
        book = client.books[instrument]
        level = lambda best: f"{best[0]} x {best[1]}" if best else "-"
        print(f"book {instrument} #{params['seq']}: bid {level(book.best_bid())}  ask {level(book.best_ask())}", flush=True)
        count += 1
        if messages and count >= messages:
            seen.set()

    client.on(f"book.{instrument}", on_book)
    client.on(f"trades.{instrument}", lambda p: print(f"trade {p['data']['price']} x {p['data']['qty']}", flush=True))
    await client.subscribe(f"book.{instrument}", f"trades.{instrument}")
    if messages:
        # The snapshot counts; more arrive as the market moves (the demo's house orders, other users).
        try:
            await asyncio.wait_for(seen.wait(), 2)
        except asyncio.TimeoutError:
            pass
        # A quiet market still shows its book: print it once more from the reconstructed state.
        while count < messages:
            on_book({"seq": client.books[instrument].seq})
    else:
        await asyncio.Event().wait()
    await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=".bulwark")
    parser.add_argument("--messages", type=int, default=0, help="stop after N book updates (0: run until interrupted)")
    parser.add_argument("--instrument", default="BTC-USD")
    args = parser.parse_args()
    asyncio.run(main(args.data, args.messages, args.instrument))
