"""Session lifetimes, renewal in place, limits, and protection against vanished clients."""
import asyncio
import os
import time

import pytest
import websockets

from bulwark_client import Client, channel_is
from conftest import Gateway, provision_trader


def run(coro):
    return asyncio.run(coro)


def trader(data, fund="USD=1000000,BTC=10"):
    return provision_trader(data, "s", fund)


def event_is(kind):
    """A `session` channel event of one type (risk-level changes share the channel)."""
    return lambda m: channel_is("session")(m) and m["params"]["data"]["type"] == kind


def bid(client, coid, price="58000"):
    return client.call("private/order.place", {"instrument": "BTC-USD", "side": "buy", "type": "limit", "qty": "0.01",
                                               "price": price, "tif": "gtc", "client_order_id": coid})


def test_expiring_then_renewal_in_place_keeps_the_session_and_subscriptions_then_expiry_closes_4001(workdir):
    server = Gateway(os.path.join(workdir, "short-sessions"), extra_env={
        "BULWARK_SESSION_IDLE_TIMEOUT_MS": "11000", "BULWARK_SESSION_ABSOLUTE_TIMEOUT_MS": "11000",
        "BULWARK_SESSION_WARNING_LEAD_MS": "10000"})
    _, key_id, key = trader(server.data)

    async def scenario():
        client = await Client.connect(server.url, server.ca)
        first = await client.login(key_id, key)
        assert (await client.call("subscribe", {"channels": ["orders"]}))["result"]["channels"] == ["orders"]
        warning = await client.next_notification(lambda m: m.get("method") == "session.expiring", timeout=5)
        assert warning["params"]["session_id"] == first["session_id"]
        assert warning["params"]["reason"] in ("idle", "absolute") and warning["params"]["expires_at_ms"] == first["expires_at_ms"]
        # Renew in place with the newest challenge: same session, timers restarted, subscription kept.
        renewed = await client.login(key_id, key)
        assert renewed["session_id"] == first["session_id"] and renewed["renewed"] is True
        assert renewed["expires_at_ms"] > first["expires_at_ms"]
        assert "result" in await bid(client, "after-renewal")
        update = await client.next_notification(channel_is("orders"))
        assert update["params"]["data"]["client_order_id"] == "after-renewal"
        # Without another renewal the session ends: session.terminated, then close 4001.
        notice = await client.next_notification(lambda m: m.get("method") == "session.terminated", timeout=20)
        assert notice["params"]["reason"] == "expired"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.recv_json(timeout=5)
        assert closed.value.rcvd.code == 4001
    try:
        run(scenario())
    finally:
        assert server.stop() == 0


def test_dead_mans_switch_fires_unless_rearmed(gateway):
    account_id, key_id, key = trader(gateway.data)

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        await client.login(key_id, key)
        assert "result" in await client.call("subscribe", {"channels": ["session"]})
        order = (await bid(client, "dms-1"))["result"]
        armed = await client.call("private/cancel_all_after", {"timeout_ms": 1500})
        assert armed["result"]["trigger_at_ms"] > time.time() * 1000
        await asyncio.sleep(1.0)
        # Re-arming pushes the deadline out: 2 s after the first arm, the order is still open.
        assert "result" in await client.call("private/cancel_all_after", {"timeout_ms": 1500})
        await asyncio.sleep(1.0)
        assert (await client.call("private/order.status", {"order_id": order["order_id"]}))["result"]["status"] == "open"
        event = await client.next_notification(event_is("dead_mans_switch"), timeout=5)
        assert event["params"]["data"]["cancelled"] == [order["order_id"]]
        status = (await client.call("private/order.status", {"order_id": order["order_id"]}))["result"]
        assert status["status"] == "cancelled"
        # 0 disarms.
        second = (await bid(client, "dms-2"))["result"]
        await client.call("private/cancel_all_after", {"timeout_ms": 1000})
        assert (await client.call("private/cancel_all_after", {"timeout_ms": 0}))["result"] == {"timeout_ms": 0}
        await asyncio.sleep(1.5)
        assert (await client.call("private/order.status", {"order_id": second["order_id"]}))["result"]["status"] == "open"
        assert (await client.call("private/cancel_all_after", {"timeout_ms": 10}))["error"]["data"]["field"] == "params.timeout_ms"
        await client.close()
    run(scenario())


def test_cancel_on_disconnect_cancels_exactly_this_connections_orders_after_the_grace(gateway):
    account_id, key_id, key = trader(gateway.data)

    async def scenario():
        watcher = await Client.connect(gateway.url, gateway.ca)
        await watcher.login(key_id, key)
        assert "result" in await watcher.call("subscribe", {"channels": ["session"]})
        kept = (await bid(watcher, "kept"))["result"]

        protected = await Client.connect(gateway.url, gateway.ca)
        await protected.login(key_id, key, cancel_on_disconnect={"scope": "connection", "grace_ms": 1500})
        mine = [(await bid(protected, f"cod-{i}"))["result"]["order_id"] for i in range(2)]
        await protected.close()
        await asyncio.sleep(0.7)
        # Inside the grace window nothing is cancelled yet.
        assert (await watcher.call("private/order.status", {"order_id": mine[0]}))["result"]["status"] == "open"
        event = await watcher.next_notification(event_is("cancel_on_disconnect"), timeout=5)
        assert sorted(event["params"]["data"]["cancelled"]) == sorted(mine)
        for order_id in mine:
            assert (await watcher.call("private/order.status", {"order_id": order_id}))["result"]["status"] == "cancelled"
        assert (await watcher.call("private/order.status", {"order_id": kept["order_id"]}))["result"]["status"] == "open"
        await watcher.close()
    run(scenario())


@pytest.mark.parametrize("params", [{"scope": "everything"}, {"scope": "connection", "grace_ms": 300001}, {"grace_ms": 5}])
def test_cancel_on_disconnect_parameters_are_validated(gateway, params):
    _, key_id, key = trader(gateway.data)

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        reply = await client.call("public/auth", client.auth_params(key_id, key, cancel_on_disconnect=params))
        assert reply["error"]["message"] == "invalid_params", reply
        await client.close()
    run(scenario())


@pytest.mark.parametrize("behaviour", ["evict_oldest", "refuse"])
def test_per_account_session_limit(workdir, behaviour):
    server = Gateway(os.path.join(workdir, "limit-" + behaviour), extra_env={
        "BULWARK_SESSION_MAX_PER_ACCOUNT": "1", "BULWARK_SESSION_ON_LIMIT": behaviour})
    _, key_id, key = trader(server.data)

    async def scenario():
        first = await Client.connect(server.url, server.ca)
        await first.login(key_id, key)
        second = await Client.connect(server.url, server.ca)
        reply = await second.call("public/auth", second.auth_params(key_id, key))
        if behaviour == "refuse":
            assert reply["error"]["message"] == "forbidden" and reply["error"]["data"]["reason"] == "too_many_sessions"
            assert "result" in await first.call("private/session.status")
        else:
            assert "result" in reply
            notice = await first.next_notification(lambda m: m.get("method") == "session.terminated", timeout=5)
            assert notice["params"]["reason"] == "evicted"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await first.recv_json(timeout=5)
            assert closed.value.rcvd.code == 4002
        await second.close()
    try:
        run(scenario())
    finally:
        assert server.stop() == 0
