"""ASVS 5.0 V8.2 (function-, object- and field-level authorization) and the trading controls:
another account's order ids (BOLA), scopes, the kill switch."""
import secrets

import pytest

from attack import cli, close_code, connect, eventually, limit_order, logged_in, run, trader


@pytest.mark.parametrize("method, by", [
    ("private/order.cancel", "order_id"), ("private/order.status", "order_id"),
    ("private/order.cancel", "client_order_id"), ("private/order.status", "client_order_id"),
])
def test_c94_another_accounts_order_is_not_found_and_untouched(target, method, by):
    victim, attacker = trader(target), trader(target)

    async def scenario():
        owner = await logged_in(target, victim)
        coid = "victim-" + secrets.token_hex(4)
        placed = (await owner.call("private/order.place", limit_order(coid)))["result"]
        intruder = await logged_in(target, attacker)
        reference = placed["order_id"] if by == "order_id" else coid
        reply = await intruder.call(method, {by: reference})
        assert reply["error"]["code"] == 12006 and reply["error"]["message"] == "order_not_found", reply
        # The same answer as for an id that never existed (nothing confirms the order exists).
        unknown = await intruder.call(method, {by: "o_does_not_exist" if by == "order_id" else "nope"})
        assert unknown["error"] == reply["error"], (unknown, reply)
        assert (await owner.call("private/order.status", {"order_id": placed["order_id"]}))["result"]["status"] == "open"
        await owner.call("private/order.cancel", {"order_id": placed["order_id"]})
        await owner.close()
        await intruder.close()
    run(scenario())


def test_c94_cancel_all_of_an_attacker_never_reaches_another_account(target):
    victim, attacker = trader(target), trader(target)

    async def scenario():
        owner = await logged_in(target, victim)
        placed = (await owner.call("private/order.place", limit_order("v-" + secrets.token_hex(4))))["result"]
        intruder = await logged_in(target, attacker)
        assert (await intruder.call("private/order.cancel_all", {}))["result"]["cancelled"] == []
        assert (await owner.call("private/order.status", {"order_id": placed["order_id"]}))["result"]["status"] == "open"
        await owner.call("private/order.cancel", {"order_id": placed["order_id"]})
        await owner.close()
        await intruder.close()
    run(scenario())


@pytest.mark.parametrize("method, params", [
    ("private/order.place", limit_order("ro-1")),
    ("private/order.cancel_all", {}),
    ("private/cancel_all_after", {"timeout_ms": 1000}),
])
def test_c42_read_only_key_cannot_trade_forbidden(target, method, params):
    reader = trader(target, scopes="read")

    async def scenario():
        client = await logged_in(target, reader)
        reply = await client.call(method, params)
        assert reply["error"]["code"] == 10005 and reply["error"]["message"] == "forbidden", reply
        await client.close()
    run(scenario())


def test_c87_private_methods_before_login_are_unauthenticated(target):
    async def scenario():
        client = await connect(target)
        for method, params in [("private/order.place", limit_order("anon")), ("private/orders.open", None),
                               ("private/session.status", None)]:
            reply = await client.call(method, params)
            assert reply["error"]["code"] == 10001 and reply["error"]["message"] == "unauthenticated", reply
        reply = await client.call("subscribe", {"channels": ["orders"]})
        assert reply["error"]["message"] == "unauthenticated"
        await client.close()
    run(scenario())


def test_c96_account_kill_switch_closes_4003_halts_orders_until_an_operator_releases(target):
    who = trader(target)

    async def scenario():
        client = await logged_in(target, who)
        placed = (await client.call("private/order.place", limit_order("ks-open")))["result"]
        cli(target, "kill-switch", "engage", "--account", who.account_id, "--reason", "attack suite")
        assert await close_code(client) == 4003
        again = await logged_in(target, who)
        assert (await again.call("private/order.status", {"order_id": placed["order_id"]}))["result"]["cancel_reason"] == "kill_switch"
        halted = await again.call("private/order.place", limit_order("ks-after"))
        assert halted["error"]["code"] == 12007 and halted["error"]["data"]["reason"] == "kill_switch", halted
        assert "result" in await again.call("private/orders.open")            # reads still work
        cli(target, "kill-switch", "release", "--account", who.account_id)
        released = await eventually(lambda: again.call("private/order.place", limit_order("ks-released")), lambda r: "result" in r)
        assert "result" in released, released
        await again.call("private/order.cancel_all", {})
        await again.close()
    run(scenario())


async def place_as(client, who, coid):
    """Logs in (again) on `client` as `who`, then places an order; either refusal is returned."""
    login = await client.call("public/auth", client.auth_params(who.key_id, who.key))
    if "error" in login:
        return login
    client.challenge = login["result"]["challenge"]
    return await client.call("private/order.place", limit_order(coid))


def test_c96_key_kill_switch_spares_the_accounts_other_keys(target):
    who = trader(target)
    from bulwark_client import Ed25519Key, b64u
    second = Ed25519Key()
    second_id = cli(target, "keys", "create", "--account", who.account_id, "--type", "ed25519", "--public-key",
                    b64u(second.public_raw()), "--scopes", "read,trade")["key_id"]

    async def scenario():
        cli(target, "kill-switch", "engage", "--key", who.key_id, "--reason", "leaked key")
        client = await connect(target)
        # Once the switch has reached the gateway, the key's logins and orders are halted.
        halted = await eventually(lambda: place_as(client, who, "kk-1"), lambda r: r.get("error", {}).get("code") == 12007)
        assert halted["error"]["code"] == 12007 and halted["error"]["data"]["reason"] == "kill_switch", halted
        other = await connect(target)
        await other.login(second_id, second)
        assert "result" in await other.call("private/order.place", limit_order("kk-2"))
        await other.call("private/order.cancel_all", {})
        cli(target, "kill-switch", "release", "--key", who.key_id)
        released = await eventually(lambda: place_as(client, who, "kk-3"), lambda r: "result" in r)
        assert "result" in released, released
        await client.call("private/order.cancel_all", {})
        await client.close()
        await other.close()
    run(scenario())
