#!/usr/bin/env python3
"""What the venue journal costs: order.place round trips with venue.journal off, process and fsync.

Starts one gateway per mode (a fresh data folder each, demo simulator off), logs in one funded
account and places N resting limit orders one after another (each waits for its reply), then
prints the median, p90 and p99 round trip and the orders per second of that single client.
A measurement for docs/venue.md, not a test: numbers depend on the disk and the machine.

    .venv/bin/python scripts/measure-order-latency.py [--orders 500] [--bin .build/debug/bulwark]
"""
import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import conftest  # noqa: E402
from conftest import Gateway, run_cli  # noqa: E402
from bulwark_client import Client, Ed25519Key, b64u  # noqa: E402


async def measure(server, key_id, key, orders, prefix):
    client = await Client.connect(server.url, server.ca)
    await client.login(key_id, key)
    times = []
    for i in range(orders):
        params = {"instrument": "BTC-USD", "side": "buy", "type": "limit", "qty": "0.001",
                  "price": str(55000 + (i % 100)), "tif": "gtc", "client_order_id": f"{prefix}{i}"}
        start = time.perf_counter()
        reply = await client.call("private/order.place", params)
        times.append((time.perf_counter() - start) * 1000)
        assert "result" in reply, reply
    await client.close()
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--bin", default=conftest.BINARY)
    args = parser.parse_args()
    conftest.BINARY = os.path.abspath(args.bin)
    print(f"{'venue.journal':<14} {'median ms':>10} {'p90 ms':>8} {'p99 ms':>8} {'orders/s':>9}")
    for mode in ("off", "process", "fsync"):
        with tempfile.TemporaryDirectory(prefix="bulwark-latency-") as work:
            data = os.path.join(work, "data")
            server = Gateway(data, extra_env={"BULWARK_VENUE_JOURNAL": mode, "BULWARK_VENUE_MAX_OPEN_ORDERS": "0"})
            try:
                account = run_cli(data, "accounts", "create", "--name", "latency", "--fund", "USD=100000000")["account_id"]
                key = Ed25519Key()
                key_id = run_cli(data, "keys", "create", "--account", account, "--type", key.type,
                                 "--public-key", b64u(key.public_raw()), "--scopes", "trade")["key_id"]
                asyncio.run(measure(server, key_id, key, 50, "w"))  # warm up
                times = sorted(asyncio.run(measure(server, key_id, key, args.orders, "m")))
            finally:
                server.stop()
        p = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
        print(f"{mode:<14} {statistics.median(times):>10.2f} {p(0.9):>8.2f} {p(0.99):>8.2f} {1000 / statistics.mean(times):>9.0f}")


if __name__ == "__main__":
    main()
