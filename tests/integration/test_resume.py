"""Resume after a forced disconnect: the session, its subscriptions and every private event missed
in between, in order, exactly once (PROTOCOL.md §4.3)."""
import asyncio

import pytest

from bulwark_client import Client
from conftest import provision_trader

PRIVATE = ["orders", "fills", "balances", "session"]


def run(coro):
    return asyncio.run(coro)


def trader(data, fund):
    return provision_trader(data, "r", fund)


def private_events(messages):
    return [m for m in messages if m.get("method") == "subscription" and m["params"]["channel"] in PRIVATE]


def order(client, coid, side, qty="0.01", price="60000"):
    return client.call("private/order.place", {"instrument": "BTC-USD", "side": side, "type": "limit", "qty": qty,
                                               "price": price, "tif": "gtc", "client_order_id": coid})


@pytest.fixture(scope="module")
def gateway(workdir):
    # Its own gateway: the demo book then holds only house liquidity (bids up to 59940, asks from
    # 60060), so a bid at 60000 is the best bid and the sells below hit it.
    import os

    from conftest import Gateway
    server = Gateway(os.path.join(workdir, "resume"))
    yield server
    server.stop()


def test_resume_after_a_forced_disconnect_replays_exactly_the_missed_private_events(gateway):
    _, key_id, key = trader(gateway.data, "USD=1000000")
    _, seller_id, seller_key = trader(gateway.data, "BTC=10")

    async def scenario():
        first = await Client.connect(gateway.url, gateway.ca)
        session = await first.login(key_id, key)
        assert (await first.call("subscribe", {"channels": PRIVATE + ["trades.BTC-USD"]}))["result"]["channels"]
        bid = (await order(first, "resting-bid", "buy", qty="0.05"))["result"]
        seen = private_events(await first.drain(0.5))
        assert seen and all("private_seq" in m["params"] for m in seen)
        last = max(m["params"]["private_seq"] for m in seen)
        first.ws.transport.abort()          # the network drops: no close handshake
        await asyncio.sleep(0.5)

        # While the client is away, its bid fills in three parts: orders, fills and balances events.
        seller = await Client.connect(gateway.url, gateway.ca)
        await seller.login(seller_id, seller_key)
        for i in range(3):
            assert "result" in await order(seller, f"hit-{i}", "sell", qty="0.01", price="60000")
        await asyncio.sleep(0.3)

        second = await Client.connect(gateway.url, gateway.ca)
        resumed = await second.login(key_id, key, resume={"session_id": session["session_id"], "last_private_seq": last})
        assert resumed["resumed"] is True and resumed["session_id"] == session["session_id"]
        assert resumed["replay_complete"] is True and resumed["replayed"] >= 9
        assert sorted(resumed["subscriptions"]) == sorted(PRIVATE + ["trades.BTC-USD"])
        # One more fill after the resume arrives live.
        assert "result" in await order(seller, "hit-live", "sell", qty="0.01", price="60000")
        events = private_events(await second.drain(1.5))
        seqs = [m["params"]["private_seq"] for m in events]
        # Exactly once and in order: consecutive private_seq from the first missed one, no repeats.
        assert seqs == list(range(last + 1, last + 1 + len(seqs))), seqs
        assert len(seqs) >= resumed["replayed"] + 3
        fills = [m["params"]["data"] for m in events if m["params"]["channel"] == "fills"]
        assert len(fills) == 4 and all(f["order_id"] == bid["order_id"] for f in fills)
        statuses = [m["params"]["data"]["status"] for m in events if m["params"]["channel"] == "orders"]
        assert statuses[-1] == "partially_filled" and statuses.count("partially_filled") == 4
        # The order book and the session are as the events say.
        status = (await second.call("private/order.status", {"order_id": bid["order_id"]}))["result"]
        assert status["filled_qty"] == "0.04"
        await second.close()
        await seller.close()
    run(scenario())


def test_resume_reports_an_incomplete_replay_when_the_log_was_outgrown(workdir):
    import os

    from conftest import Gateway
    server = Gateway(os.path.join(workdir, "small-replay"), extra_env={"BULWARK_SESSION_REPLAY_EVENTS": "16"})
    _, key_id, key = trader(server.data, "USD=1000000")

    async def scenario():
        first = await Client.connect(server.url, server.ca)
        session = await first.login(key_id, key)
        await first.call("subscribe", {"channels": ["orders"]})
        await first.close()
        # Twenty orders placed by another session of the account: more than the log keeps.
        other = await Client.connect(server.url, server.ca)
        await other.login(key_id, key)
        for i in range(20):
            assert "result" in await order(other, f"o-{i}", "buy", price="59000")
        second = await Client.connect(server.url, server.ca)
        resumed = await second.login(key_id, key, resume={"session_id": session["session_id"], "last_private_seq": 0})
        assert resumed["resumed"] is True and resumed["replay_complete"] is False
        assert 0 < resumed["replayed"] <= 16
        events = private_events(await second.drain(0.8))
        assert len(events) == resumed["replayed"]
        await second.close()
        await other.close()
    try:
        run(scenario())
    finally:
        assert server.stop() == 0
