"""The built-in venue over the wire: durability across kill -9, amend, unknown outcomes, limits,
concurrent duplicates, ticker and the demo liquidity simulator."""
import asyncio
import json
import os
import secrets
from decimal import Decimal

import websockets

from bulwark_client import Client, Ed25519Key, b64u, channel_is
from conftest import Gateway, run_cli


def run(coro):
    return asyncio.run(coro)


def funded_trader(data, fund="USD=10000000,BTC=100,ETH=1000"):
    account = run_cli(data, "accounts", "create", "--name", f"venue-{secrets.token_hex(4)}", "--fund", fund)["account_id"]
    key = Ed25519Key()
    key_id = run_cli(data, "keys", "create", "--account", account, "--type", key.type, "--public-key", b64u(key.public_raw()),
                     "--scopes", "read,trade")["key_id"]
    return account, key_id, key


async def logged_in(server, key_id, key):
    client = await Client.connect(server.url, server.ca)
    await client.login(key_id, key)
    return client


def burst_order(worker, i):
    """Resting buys far below the house bids, resting sells far above the asks, and ioc buys that take
    the house's best ask (filled while it lasts, then cancelled): every final state is predictable."""
    coid = f"b{worker}-{i}"
    if i % 7 == 3:
        return coid, {"instrument": "BTC-USD", "side": "buy", "type": "limit", "qty": "0.001", "price": "60100",
                      "tif": "ioc", "client_order_id": coid}
    if i % 11 == 5:
        return coid, {"instrument": "BTC-USD", "side": "sell", "type": "limit", "qty": "0.001", "price": "65000",
                      "tif": "gtc", "client_order_id": coid}
    price = Decimal("55000") + Decimal(i % 200) / 2
    return coid, {"instrument": "BTC-USD", "side": "buy", "type": "limit", "qty": "0.001", "price": str(price),
                  "tif": "gtc", "client_order_id": coid}


async def pipelined_burst(client, worker, count, acked, sent, window=16):
    """Sends `count` orders keeping `window` unanswered; records each acknowledged result until the
    connection dies."""
    slots = asyncio.Semaphore(window)
    pending = {}

    async def reader():
        try:
            while True:
                reply = json.loads(await asyncio.wait_for(client.ws.recv(), 30))
                coid = pending.pop(reply.get("id"), None)
                if coid is None:
                    continue
                if "result" in reply:
                    acked[coid] = reply["result"]
                slots.release()
        except (websockets.ConnectionClosed, asyncio.TimeoutError, OSError):
            for _ in range(window):  # wake the sender: it sees the reader gone and stops
                slots.release()

    reading = asyncio.create_task(reader())
    try:
        for i in range(count):
            await slots.acquire()
            if reading.done():
                return
            coid, params = burst_order(worker, i)
            request_id = 1000 + i
            pending[request_id] = coid
            sent.append(coid)
            await client.ws.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "private/order.place", "params": params}))
    except (websockets.ConnectionClosed, OSError):
        pass
    await reading


def test_kill_9_during_a_burst_loses_no_acknowledged_order_and_duplicates_none(workdir):
    data = os.path.join(workdir, "venue-kill")
    server = Gateway(data)
    account, key_id, key = funded_trader(data)
    acked, sent = {}, []

    async def burst():
        clients = [await logged_in(server, key_id, key) for _ in range(3)]

        async def killer():
            while len(acked) < 120:
                await asyncio.sleep(0.002)
            server.process.kill()  # SIGKILL: no drain, no flush, no goodbye

        await asyncio.gather(killer(), *(pipelined_burst(c, w, 600, acked, sent) for w, c in enumerate(clients)))
    run(burst())
    assert server.process.wait(10) == -9
    server.log.close()
    assert 120 <= len(acked) < len(sent), "the kill must land in the middle of the burst"

    restarted = Gateway(data)
    try:
        async def check():
            client = await logged_in(restarted, key_id, key)
            found = {}
            for coid in sent:
                reply = await client.call("private/order.status", {"client_order_id": coid})
                if "result" in reply:
                    found[coid] = reply["result"]
                else:
                    assert coid not in acked, f"acknowledged order {coid} lost: {reply}"
                    assert reply["error"]["message"] == "order_not_found"
            # Every acknowledged order is there, as it was acknowledged (nothing else trades here).
            for coid, ack in acked.items():
                now = found[coid]
                assert now["order_id"] == ack["order_id"]
                assert (now["status"], now["filled_qty"]) == (ack["status"], ack["filled_qty"]), (coid, ack, now)
            # Nothing twice: one order id per client order id, and the open list has no repeats.
            assert len({o["order_id"] for o in found.values()}) == len(found)
            open_orders = (await client.call("private/orders.open"))["result"]["orders"]
            open_ids = [o["client_order_id"] for o in open_orders]
            assert len(open_ids) == len(set(open_ids))
            assert set(open_ids) == {c for c, o in found.items() if o["status"] == "open"}
            # Balances rebuilt exactly: start funding, minus what the fills cost (taker fee 0.05 %).
            usd, btc = Decimal("10000000"), Decimal("100")
            for order in found.values():
                filled = Decimal(order["filled_qty"])
                if filled:
                    usd -= filled * Decimal(order["avg_price"]) * Decimal("1.0005")
                    btc += filled
            balances = {b["asset"]: b for b in (await client.call("private/account.balances"))["result"]["balances"]}
            assert Decimal(balances["USD"]["total"]) == usd and Decimal(balances["BTC"]["total"]) == btc
            held_btc = sum(Decimal("0.001") for o in found.values() if o["status"] == "open" and o["side"] == "sell")
            assert Decimal(balances["BTC"]["available"]) == btc - held_btc
            # An order sent but never acknowledged is either there or not: retrying it is safe.
            for coid in sent[:]:
                if coid in acked:
                    continue
                worker, index = coid[1:].split("-")
                again = await client.call("private/order.place", burst_order(int(worker), int(index))[1])
                assert again["result"]["duplicate"] is (coid in found)
                break
            # What the graceful restart must reproduce: the state after that retry (which may have
            # placed a new order).
            open_orders = (await client.call("private/orders.open"))["result"]["orders"]
            balances = {b["asset"]: b for b in (await client.call("private/account.balances"))["result"]["balances"]}
            book = await client.call("subscribe", {"channels": ["book.BTC-USD"]})
            assert "result" in book
            snapshot = await client.next_notification(channel_is("book.BTC-USD"))
            await client.close()
            return open_orders, balances, snapshot["params"]
        open_before, balances_before, book_before = run(check())
        assert "venue journal:" in restarted.output()
        assert restarted.stop() == 0

        # A graceful restart changes nothing either.
        again = Gateway(data)
        try:
            async def compare():
                client = await logged_in(again, key_id, key)
                open_after = (await client.call("private/orders.open"))["result"]["orders"]
                balances_after = {b["asset"]: b for b in (await client.call("private/account.balances"))["result"]["balances"]}
                await client.call("subscribe", {"channels": ["book.BTC-USD"]})
                book_after = (await client.next_notification(channel_is("book.BTC-USD")))["params"]
                await client.close()
                assert open_after == open_before
                assert balances_after == balances_before
                assert book_after == book_before
            run(compare())
        finally:
            again.stop()
    finally:
        restarted.stop()


def test_amend_keeps_or_loses_priority_and_checks_its_params(gateway):
    # The option is quiet in this suite: its only other orders are the house ladder (bids 2495 and
    # below, asks 2505 and above), so asks at 2500 are the best and trade first.
    option = "BTC-20261225-70000-C"
    data = gateway.data
    _, maker_id, maker_key = funded_trader(data)
    _, other_id, other_key = funded_trader(data)
    _, buyer_id, buyer_key = funded_trader(data)

    async def scenario():
        maker = await logged_in(gateway, maker_id, maker_key)
        other = await logged_in(gateway, other_id, other_key)
        buyer = await logged_in(gateway, buyer_id, buyer_key)

        async def place(client, coid, qty, price, side="sell", tif="gtc"):
            reply = await client.call("private/order.place", {
                "instrument": option, "side": side, "type": "limit", "qty": qty, "price": price, "tif": tif,
                "client_order_id": coid})
            assert "result" in reply, reply
            return reply["result"]

        first = await place(maker, "am-1", "2", "2500")
        second = await place(other, "am-2", "1", "2500")
        # A size decrease keeps the first its place in the queue…
        reply = await maker.call("private/order.amend", {"order_id": first["order_id"], "qty": "1.5"})
        assert reply["result"]["qty"] == "1.5" and reply["result"]["status"] == "open", reply
        assert (await place(buyer, "am-b1", "0.5", "2500", side="buy", tif="ioc"))["status"] == "filled"
        status = (await maker.call("private/order.status", {"order_id": first["order_id"]}))["result"]
        assert status["filled_qty"] == "0.5" and status["status"] == "partially_filled"
        # …a size increase (the new total counts what is filled) sends it behind the second.
        reply = await maker.call("private/order.amend", {"client_order_id": "am-1", "qty": "3"})
        assert reply["result"]["qty"] == "3" and reply["result"]["filled_qty"] == "0.5"
        assert (await place(buyer, "am-b2", "1", "2500", side="buy", tif="ioc"))["status"] == "filled"
        assert (await other.call("private/order.status", {"order_id": second["order_id"]}))["result"]["status"] == "filled"
        # A price change moves it; a crossing price is refused (an amend never trades).
        reply = await maker.call("private/order.amend", {"order_id": first["order_id"], "price": "2520"})
        assert reply["result"]["price"] == "2520"
        crossing = await maker.call("private/order.amend", {"order_id": first["order_id"], "price": "2495"})
        assert crossing["error"]["message"] == "invalid_params" and crossing["error"]["data"]["reason"] == "would_cross"
        bid = await place(buyer, "am-b3", "1", "2400", side="buy")
        # Strict params and their errors.
        for params, message, field in [
            ({"order_id": first["order_id"]}, "invalid_params", "params.price"),
            ({"order_id": first["order_id"], "price": "2520", "side": "buy"}, "invalid_params", "params.side"),
            ({"order_id": first["order_id"], "client_order_id": "am-1", "qty": "1"}, "invalid_params", "params.order_id"),
            ({"order_id": first["order_id"], "qty": 1}, "invalid_params", "params.qty"),
            ({"order_id": "o_999999", "qty": "1"}, "order_not_found", "params.order_id"),
            ({"order_id": bid["order_id"], "qty": "2"}, "order_not_found", "params.order_id"),  # someone else's
            ({"order_id": first["order_id"], "price": "2512"}, "price_not_on_tick", "params.price"),
            ({"order_id": first["order_id"], "price": "4000"}, "price_out_of_band", "params.price"),
            ({"order_id": first["order_id"], "qty": "0.001"}, "qty_not_on_lot", "params.qty"),
            ({"order_id": first["order_id"], "qty": "1", "deadline_ms": 1}, "deadline_exceeded", "params.deadline_ms"),
        ]:
            reply = await maker.call("private/order.amend", params)
            assert reply["error"]["message"] == message, (params, reply)
            assert reply["error"]["data"].get("field") == field, (params, reply)
        cancelled = await maker.call("private/order.cancel", {"order_id": first["order_id"]})
        closed = await maker.call("private/order.amend", {"order_id": first["order_id"], "qty": "2"})
        assert cancelled["result"]["status"] == "cancelled" and closed["error"]["data"]["reason"] == "order_closed"
        for client in (maker, other, buyer):
            await client.close()
    run(scenario())


def test_kill_switch_blocks_amend_like_place(gateway):
    data = gateway.data
    account, halted_id, halted_key = funded_trader(data)
    other_key = Ed25519Key()
    other_id = run_cli(data, "keys", "create", "--account", account, "--type", other_key.type,
                       "--public-key", b64u(other_key.public_raw()), "--scopes", "read,trade")["key_id"]

    async def scenario():
        # An order of the account's other key survives a kill switch on this key…
        other = await logged_in(gateway, other_id, other_key)
        placed = await other.call("private/order.place", {
            "instrument": "ETH-USD", "side": "buy", "type": "limit", "qty": "1", "price": "4800", "tif": "gtc",
            "client_order_id": "ks-" + secrets.token_hex(4)})
        order_id = placed["result"]["order_id"]
        run_cli(data, "kill-switch", "engage", "--key", halted_id, "--reason", "test")
        try:
            await asyncio.sleep(1.0)  # the change feed reaches the server within a second
            # …and the halted key may neither place nor amend it; cancelling stays possible.
            halted = await logged_in(gateway, halted_id, halted_key)
            amend = await halted.call("private/order.amend", {"order_id": order_id, "qty": "2"})
            assert amend["error"]["message"] == "trading_halted" and amend["error"]["data"]["reason"] == "kill_switch", amend
            place = await halted.call("private/order.place", {
                "instrument": "ETH-USD", "side": "buy", "type": "limit", "qty": "1", "price": "4800", "tif": "gtc",
                "client_order_id": "ks-x"})
            assert place["error"]["message"] == "trading_halted"
            assert (await halted.call("private/order.cancel", {"order_id": order_id}))["result"]["status"] == "cancelled"
            await halted.close()
        finally:
            run_cli(data, "kill-switch", "release", "--key", halted_id)
        await other.close()
    run(scenario())


def test_venue_timeout_reports_unknown_then_resolves_on_orders(workdir):
    data = os.path.join(workdir, "venue-slow")
    server = Gateway(data, extra_env={"BULWARK_VENUE_TIMEOUT_MS": "100", "BULWARK_VENUE_TEST_DELAY_MS": "700",
                                      "BULWARK_VENUE_MAX_OPEN_ORDERS": "3"})
    try:
        _, key_id, key = funded_trader(data)

        async def scenario():
            client = await logged_in(server, key_id, key)
            assert "result" in await client.call("subscribe", {"channels": ["orders"]})
            order = {"instrument": "ETH-USD", "side": "buy", "type": "limit", "qty": "1", "price": "4800", "tif": "gtc",
                     "client_order_id": "slow-1"}
            reply = await client.call("private/order.place", order)
            result = reply["result"]
            assert result["status"] == "unknown" and "order_id" not in result and result["client_order_id"] == "slow-1"
            update = await client.next_notification(channel_is("orders"), timeout=10)
            assert update["params"]["data"]["client_order_id"] == "slow-1" and update["params"]["data"]["status"] == "open"
            # Asking again (slowly, so give it time) returns the original.
            again = await client.call("private/order.place", order, timeout=10)
            assert again["result"]["status"] == "unknown"
            await asyncio.sleep(1.0)
            status = await client.call("private/order.status", {"client_order_id": "slow-1"})
            assert status["result"]["order_id"] == update["params"]["data"]["order_id"]
            # Max open orders per account (3 here): the fourth resting order is refused.
            for i in range(2, 5):
                await client.call("private/order.place", dict(order, client_order_id=f"slow-{i}"))
            await asyncio.sleep(1.5)
            opened = (await client.call("private/orders.open"))["result"]["orders"]
            assert [o["client_order_id"] for o in opened] == ["slow-1", "slow-2", "slow-3"]
            refused = [n for n in client.notifications if n.get("params", {}).get("data", {}).get("client_order_id") == "slow-4"]
            assert refused == []
            await client.close()
        run(scenario())
    finally:
        server.stop()


def test_concurrent_duplicates_make_exactly_one_order(gateway):
    _, key_id, key = funded_trader(gateway.data)

    async def scenario():
        clients = [await logged_in(gateway, key_id, key) for _ in range(6)]
        order = {"instrument": "ETH-USD", "side": "buy", "type": "limit", "qty": "1", "price": "4700", "tif": "gtc",
                 "client_order_id": "dup-" + secrets.token_hex(4)}
        replies = await asyncio.gather(*(c.call("private/order.place", order) for c in clients for _ in range(1)))
        results = [r["result"] for r in replies]
        assert sorted(r["duplicate"] for r in results) == [False] + [True] * 5
        assert len({r["order_id"] for r in results}) == 1
        opened = (await clients[0].call("private/orders.open"))["result"]["orders"]
        assert [o["client_order_id"] for o in opened].count(order["client_order_id"]) == 1
        for client in clients:
            await client.close()
    run(scenario())


def test_ticker_has_the_top_of_book_and_follows_trades(gateway):
    _, key_id, key = funded_trader(gateway.data)

    async def scenario():
        watcher = await Client.connect(gateway.url, gateway.ca)
        assert "result" in await watcher.call("subscribe", {"channels": ["ticker.BTC-PERP"]})
        first = (await watcher.next_notification(channel_is("ticker.BTC-PERP")))["params"]
        data = first["data"]
        assert data["instrument"] == "BTC-PERP" and Decimal(data["best_bid"]) < Decimal(data["best_ask"])
        assert set(data) >= {"best_bid_qty", "best_ask_qty", "last_price", "volume_24h", "reference_price", "ts_ms"}
        trader = await logged_in(gateway, key_id, key)
        reply = await trader.call("private/order.place", {
            "instrument": "BTC-PERP", "side": "buy", "type": "market", "qty": "0.001", "tif": "ioc",
            "client_order_id": "tick-1"})
        assert reply["result"]["status"] == "filled"
        update = (await watcher.next_notification(channel_is("ticker.BTC-PERP")))["params"]
        assert update["seq"] == first["seq"] + 1
        assert update["data"]["last_price"] == reply["result"]["avg_price"]
        assert Decimal(update["data"]["volume_24h"]) >= Decimal("0.001")
        await watcher.close()
        await trader.close()
    run(scenario())


def test_demo_simulator_keeps_a_fresh_market_moving(workdir):
    data = os.path.join(workdir, "venue-live")
    server = Gateway(data, extra_env={"BULWARK_DEMO_LIQUIDITY_INTERVAL_MS": "50", "BULWARK_MARKET_BOOK_DEPTH": "5"})
    try:
        async def scenario():
            watcher = await Client.connect(server.url, server.ca)
            await watcher.call("subscribe", {"channels": ["book.ETH-USD", "ticker.ETH-USD"]})
            snapshot = (await watcher.next_notification(channel_is("book.ETH-USD")))["params"]
            assert snapshot["data"]["type"] == "snapshot"
            assert len(snapshot["data"]["bids"]) <= 5 and len(snapshot["data"]["asks"]) <= 5
            # Without anyone trading, the book and the ticker move.
            bids = {p: q for p, q in snapshot["data"]["bids"]}
            asks = {p: q for p, q in snapshot["data"]["asks"]}
            seq = snapshot["seq"]
            for _ in range(5):
                delta = (await watcher.next_notification(channel_is("book.ETH-USD"), timeout=10))["params"]
                assert delta["prev_seq"] == seq
                seq = delta["seq"]
                for side, levels in (("bids", bids), ("asks", asks)):
                    for price, qty in delta["data"][side]:
                        if Decimal(qty) == 0:
                            levels.pop(price, None)
                        else:
                            levels[price] = qty
                assert len(bids) <= 5 and len(asks) <= 5
            await watcher.next_notification(channel_is("ticker.ETH-USD"), timeout=10)
            await watcher.close()
        run(scenario())
    finally:
        server.stop()
