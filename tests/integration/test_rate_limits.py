"""Rate limits and abuse protection over real sockets (docs/rate-limits.md).

One gateway with small limits and long periods (60 s, so nothing refills while a test runs; no
assertion depends on timing). Each test uses its own client addresses (127.0.10.x) and accounts,
so the per-IP and per-account buckets of one test never touch another's.
"""
import asyncio
import json
import os
import ssl
import time

import pytest
import websockets

from bulwark_client import Client, Ed25519Key
from conftest import provision_trader

LIMITS = {
    "BULWARK_RATE_IP_HANDSHAKES": "8/60s",
    "BULWARK_RATE_IP_CONNECTIONS": "6/60s",
    "BULWARK_RATE_IP_MAX_CONNECTIONS": "3",
    "BULWARK_RATE_IP_LOGINS": "5/60s",
    "BULWARK_RATE_CONNECTION_MESSAGES": "20/60s",
    "BULWARK_RATE_CONNECTION_SUBSCRIBES": "3/60s",
    "BULWARK_RATE_TIER_STANDARD_WEIGHT": "30/60s",
    "BULWARK_RATE_TIER_STANDARD_ORDERS": "5/60s",
    "BULWARK_RATE_TIER_STANDARD_ORDERS_PER_DAY": "100/d",
    "BULWARK_RATE_TIER_STANDARD_CANCELS": "10/60s",
    "BULWARK_RATE_TIER_PROFESSIONAL_ORDERS": "8/60s",
    "BULWARK_ABUSE_CLOSE_AFTER": "3/60s",
    "BULWARK_ABUSE_BAN_AFTER": "2/60s",
    "BULWARK_ABUSE_BAN_MS": "60000",
    # The failed-login throttle per address is relaxed so that the login bucket is what is seen.
    "BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "1000",
}


@pytest.fixture(scope="module")
def limited(workdir):
    from conftest import Gateway
    # The Origin-probing rule would block an address after 5 refused Origins (test_incident_response.py
    # covers it); here the refusals are only the handshake bucket's fuel.
    server = Gateway(os.path.join(workdir, "rate-limits"), extra_env={**LIMITS, "BULWARK_DETECT_AUTO_BLOCK": "false"})
    yield server
    server.stop()


def cli(server, *args):
    from conftest import run_cli
    return run_cli(server.data, *args)


def trader(server, fund="USD=10000000,BTC=100"):
    return provision_trader(server.data, "rl", fund)


def connect(server, ip):
    return Client.connect(server.url, server.ca, local_addr=(ip, 0))


def order(client, coid, price="58000"):
    return client.call("private/order.place", {"instrument": "BTC-USD", "side": "buy", "type": "limit", "qty": "0.01",
                                               "price": price, "tif": "gtc", "client_order_id": coid})


async def refused_upgrade(server, ip, **kwargs):
    """Attempts an upgrade that must be refused: returns (status, body, headers); no frame was sent."""
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await websockets.connect(server.url, ssl=ssl.create_default_context(cafile=server.ca), local_addr=(ip, 0),
                                 open_timeout=10, **kwargs)
    response = refused.value.response
    return response.status_code, json.loads(response.body), response.headers


def run(coro):
    return asyncio.run(coro)


def test_every_response_reports_usage_and_session_status_shows_all_buckets(limited):
    account_id, key_id, key = trader(limited)

    async def scenario():
        client = await connect(limited, "127.0.10.1")
        reply = await client.call("public/time")
        assert reply["usage"] == {"bucket": "messages", "cost": 1, "remaining": 19, "reset_ms": reply["usage"]["reset_ms"]}
        assert 0 < reply["usage"]["reset_ms"] <= 3000
        login = await client.call("public/auth", client.auth_params(key_id, key))
        assert login["usage"]["bucket"] == "login" and login["usage"]["remaining"] == 4
        client.challenge = login["result"]["challenge"]
        placed = await order(client, "u-1")
        assert placed["usage"]["bucket"] == "orders" and placed["usage"]["cost"] == 1 and placed["usage"]["remaining"] == 4
        opened = await client.call("private/orders.open")
        assert opened["usage"]["bucket"] == "weight" and opened["usage"]["cost"] == 5
        cancelled = await client.call("private/order.cancel", {"order_id": placed["result"]["order_id"]})
        assert cancelled["usage"]["bucket"] == "cancels" and cancelled["usage"]["remaining"] == 9
        status = (await client.call("private/session.status"))["result"]["rate_limits"]
        assert status["tier"] == "standard"
        buckets = {b["bucket"]: b for b in status["buckets"]}
        assert set(buckets) == {"messages", "subscriptions", "login", "weight", "orders", "orders_day", "cancels", "ip_concurrent"}
        assert buckets["orders"]["limit"] == 5 and buckets["orders"]["period_ms"] == 60000 and buckets["orders"]["remaining"] == 4
        assert buckets["orders_day"]["limit"] == 100 and buckets["cancels"]["remaining"] == 9
        assert buckets["weight"]["scope"] == "account" and buckets["messages"]["scope"] == "connection"
        # Subscribe operations have their own per-connection bucket (3 here).
        for _ in range(3):
            assert (await client.call("subscribe", {"channels": ["trades.BTC-USD"]}))["usage"]["bucket"] == "subscriptions"
        limited_reply = await client.call("subscribe", {"channels": ["trades.ETH-USD"]})
        assert limited_reply["error"]["message"] == "rate_limited" and limited_reply["error"]["data"]["bucket"] == "subscriptions"
        assert limited_reply["error"]["data"]["retry_after_ms"] > 0
        # A connection may turn usage off.
        assert (await client.call("public/usage", {"enabled": False}))["result"] == {"usage": False}
        assert "usage" not in await client.call("public/time")
        await client.close()
    run(scenario())


def test_cancels_still_pass_when_the_order_bucket_is_empty(limited):
    account_id, key_id, key = trader(limited)

    async def scenario():
        client = await connect(limited, "127.0.10.2")
        await client.login(key_id, key)
        placed = [(await order(client, f"c-{i}"))["result"]["order_id"] for i in range(5)]
        refused = await order(client, "c-5")
        assert refused["error"]["code"] == 11001 and refused["error"]["message"] == "rate_limited"
        assert refused["error"]["data"]["bucket"] == "orders" and refused["error"]["data"]["retry_after_ms"] > 0
        for order_id in placed[:4]:
            reply = await client.call("private/order.cancel", {"order_id": order_id})
            assert reply["result"]["status"] == "cancelled" and reply["usage"]["bucket"] == "cancels", reply
        reply = await client.call("private/order.cancel_all", {})
        assert [o["order_id"] for o in reply["result"]["cancelled"]] == [placed[4]]
        await client.close()
    run(scenario())


def test_account_tier_sets_the_account_limits(limited):
    account_id, key_id, key = trader(limited)
    assert cli(limited, "accounts", "set-tier", account_id, "professional") == {"account_id": account_id, "tier": "professional"}

    async def scenario():
        client = await connect(limited, "127.0.10.3")
        await client.login(key_id, key)  # a login catches up with the change feed first
        status = (await client.call("private/session.status"))["result"]["rate_limits"]
        assert status["tier"] == "professional"
        assert [b["limit"] for b in status["buckets"] if b["bucket"] == "orders"] == [8]
        for i in range(8):
            assert "result" in await order(client, f"t-{i}")
        assert (await order(client, "t-8"))["error"]["data"]["bucket"] == "orders"
        await client.close()
    run(scenario())


def test_per_ip_upgrade_limits_are_http_429_without_frames(limited):
    async def scenario():
        # Concurrent connections: 3 per address.
        held = [await connect(limited, "127.0.10.4") for _ in range(3)]
        status, body, headers = await refused_upgrade(limited, "127.0.10.4")
        assert status == 429 and body["error"] == "rate_limited" and body["bucket"] == "ip_concurrent"
        assert int(headers["Retry-After"]) >= 1
        # Another address is not affected.
        other = await connect(limited, "127.0.10.5")
        await other.close()
        for client in held:
            await client.close()
        # Handshakes: 8 per minute per address, refused ones included (here: a disallowed Origin).
        for _ in range(8):
            status, body, _ = await refused_upgrade(limited, "127.0.10.8", origin="https://evil.example")
            assert status == 403 and body["error"] == "origin_not_allowed"
        status, body, _ = await refused_upgrade(limited, "127.0.10.8")
        assert status == 429 and body["bucket"] == "ip_handshakes"
    run(scenario())


def test_new_connections_per_ip_at_their_number(limited):
    async def scenario():
        for _ in range(6):
            client = await connect(limited, "127.0.10.9")
            await client.close()
        status, body, _ = await refused_upgrade(limited, "127.0.10.9")
        assert status == 429 and body["bucket"] == "ip_connections" and body["retry_after_ms"] > 0
    run(scenario())


def test_login_brute_force_is_throttled_per_key_and_per_address(limited):
    _, victim_key_id, victim_key = trader(limited)
    _, other_key_id, other_key = trader(limited)
    attacker = Ed25519Key()

    async def scenario():
        client = await connect(limited, "127.0.10.10")
        # Per key: three failures, then the key must wait (the failed-login throttle, bucket login).
        for _ in range(3):
            reply = await client.call("public/auth", client.auth_params(victim_key_id, attacker))
            assert reply["error"]["message"] == "auth_failed"
        reply = await client.call("public/auth", client.auth_params(victim_key_id, attacker))
        assert reply["error"]["message"] == "rate_limited" and reply["error"]["data"]["bucket"] == "login"
        # Per address: 5 attempts a minute, whatever the key: the 6th is refused before it is checked.
        reply = await client.call("public/auth", client.auth_params("k_made_up", attacker))
        assert reply["error"]["message"] == "auth_failed"
        reply = await client.call("public/auth", client.auth_params("k_made_up_too", attacker))
        assert reply["error"]["message"] == "rate_limited" and reply["error"]["data"]["bucket"] == "login"
        assert reply["error"]["data"]["retry_after_ms"] > 0
        await client.close()
        # Another address logs in with another key at once.
        elsewhere = await connect(limited, "127.0.10.11")
        result = await elsewhere.login(other_key_id, other_key)
        assert result["account_id"]
        await elsewhere.close()
    run(scenario())


def test_the_ladder_warning_then_rejection_then_4008_then_ip_and_key_bans_lifted_by_an_operator(limited):
    _, key_id, key = trader(limited)
    abuser_ip = "127.0.10.12"

    async def abuse_once():
        """Logs in, then sends requests until the server closes; returns the events in order."""
        client = await connect(limited, abuser_ip)
        await client.login(key_id, key)
        events = []
        try:
            # 30 pipelined: below ws.max_in_flight (32), so every refusal here is the messages bucket's.
            for i in range(30):
                await client.send_raw(json.dumps({"jsonrpc": "2.0", "id": 1000 + i, "method": "public/time"}))
            while True:
                message = await client.recv_json(10)
                if message.get("method") == "rate_limit.warning":
                    events.append(("warning", message["params"]["bucket"]))
                elif "error" in message:
                    events.append(("error", message["error"]["message"]))
                elif "result" in message:
                    events.append(("result", None))
        except websockets.ConnectionClosed as closed:
            events.append(("close", closed.rcvd.code if closed.rcvd else None))
        return events

    async def scenario():
        for attempt in range(2):
            events = await abuse_once()
            kinds = [kind for kind, _ in events]
            # 20 messages a connection: public/auth used one, so 19 results; the warning at 80 %
            # (16 used) comes before any refusal; 3 refusals; then 4008 — never at the first refusal.
            assert kinds.count("result") == 19, events
            assert ("warning", "messages") in events
            first_refusal = kinds.index("error")
            assert kinds.index("warning") < first_refusal
            assert all(kind == "result" for kind in kinds[:first_refusal] if kind != "warning")
            assert kinds[-1] == "close" and events[-1][1] == 4008
            assert kinds.count("error") >= 3 and all(e[1] == "rate_limited" for e in events if e[0] == "error")
        # The second 4008 within the window banned the address: refused before the upgrade.
        status, body, headers = await refused_upgrade(limited, abuser_ip)
        assert status == 403 and body["error"] == "banned" and body["until_ms"] > time.time() * 1000
        assert int(headers["Retry-After"]) >= 1
        # And the key: from another address its login gets `banned` (11002) with until_ms.
        elsewhere = await connect(limited, "127.0.10.13")
        reply = await elsewhere.call("public/auth", elsewhere.auth_params(key_id, key))
        assert "error" in reply, (reply, [line for line in limited.output().splitlines() if "ban" in line.lower()][-12:])
        assert reply["error"]["code"] == 11002 and reply["error"]["message"] == "banned"
        assert reply["error"]["data"]["until_ms"] > time.time() * 1000
        await elsewhere.close()
        # Operators see both bans and lift them; the running gateway applies that within a second.
        listed = {b["subject"]: b for b in cli(limited, "bans", "list")["bans"]}
        assert {f"ip:{abuser_ip}", f"key:{key_id}"} <= set(listed)
        assert listed[f"ip:{abuser_ip}"]["reason"] == "rate_limit_abuse" and listed[f"ip:{abuser_ip}"]["level"] == 1
        assert cli(limited, "bans", "lift", f"ip:{abuser_ip}") == {"lifted": True}
        assert cli(limited, "bans", "lift", f"key:{key_id}") == {"lifted": True}
        assert not {b["subject"] for b in cli(limited, "bans", "list")["bans"]} & {f"ip:{abuser_ip}", f"key:{key_id}"}
        deadline = time.monotonic() + 10
        while True:
            try:
                back = await connect(limited, abuser_ip)
                break
            except websockets.exceptions.InvalidStatus as refused:
                assert refused.response.status_code == 403
                assert time.monotonic() < deadline, "the lifted ban still applies"
                await asyncio.sleep(0.1)
        # The two lifts are two feed entries: the key's may be applied one poll after the address's.
        while True:
            reply = await back.call("public/auth", back.auth_params(key_id, key))
            if "result" in reply:
                break
            assert reply["error"]["message"] == "banned" and time.monotonic() < deadline, reply
            await asyncio.sleep(0.1)
        assert reply["result"]["account_id"]
        await back.close()
    run(scenario())


def test_a_flood_from_one_address_does_not_stop_another_clients_orders(limited):
    _, key_id, key = trader(limited)
    flooder_ip = "127.0.10.14"

    async def flood():
        async def one_connection():
            try:
                client = await connect(limited, flooder_ip)
            except (websockets.exceptions.InvalidStatus, OSError):
                return
            try:
                for i in range(60):
                    await client.send_raw(json.dumps({"jsonrpc": "2.0", "id": i, "method": "public/instruments"}))
                while True:
                    await client.recv_json(10)
            except (websockets.ConnectionClosed, asyncio.TimeoutError):
                pass
            finally:
                await client.ws.close()
        await asyncio.gather(*(one_connection() for _ in range(12)))

    async def trade():
        client = await connect(limited, "127.0.10.15")
        await client.login(key_id, key)
        replies = [await order(client, f"f-{i}") for i in range(5)]
        await client.close()
        return replies

    async def scenario():
        _, replies = await asyncio.gather(flood(), trade())
        assert all("result" in reply for reply in replies), replies
    run(scenario())


def test_node_wide_connection_cap_is_503(workdir):
    from conftest import Gateway
    server = Gateway(os.path.join(workdir, "rate-limits-global"), extra_env={"BULWARK_RATE_GLOBAL_MAX_CONNECTIONS": "2"})
    try:
        async def scenario():
            held = [await connect(server, "127.0.11.1"), await connect(server, "127.0.11.2")]
            status, body, _ = await refused_upgrade(server, "127.0.11.3")
            assert status == 503 and body == {"error": "overloaded", "bucket": "global_concurrent", "retry_after_ms": 1000}
            for client in held:
                await client.close()
        run(scenario())
    finally:
        server.stop()
