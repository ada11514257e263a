"""ASVS 5.0 V1.5.3 (consistent parsers), V2.2 (input validation), V15.3.3 (mass assignment):
hostile JSON and hostile order parameters. Every refusal is exact and the connection survives."""
import json

import pytest

from attack import connect, limit_order, logged_in, run, trader

ENVELOPE = '{"jsonrpc":"2.0","id":1,"method":"public/time"%s}'


def refused_then_served(server, raw, code, message, reason=None, who=None):
    async def scenario():
        client = await (logged_in(server, who) if who else connect(server))
        await client.send_raw(raw)
        reply = await client.recv_json()
        assert reply["error"]["code"] == code and reply["error"]["message"] == message, reply
        if reason:
            assert reply["error"]["data"]["reason"] == reason, reply
        assert "result" in await client.call("public/ping")   # the same connection still works
        await client.close()
        return reply
    return run(scenario())


@pytest.mark.parametrize("raw", ["{", "not json", '{"jsonrpc":"2.0",}', "\ufeff" + ENVELOPE % "",
                                 ENVELOPE % "" + " trailing", ENVELOPE % ',"params":{/*c*/}', "", "[]", "null"])
def test_c34_malformed_json_is_parse_error_or_invalid_request(target, raw):
    async def scenario():
        client = await connect(target)
        await client.send_raw(raw)
        reply = await client.recv_json()
        assert reply["id"] is None and reply["error"]["message"] in ("parse_error", "invalid_request"), reply
        assert reply["error"]["code"] == {"parse_error": -32700, "invalid_request": -32600}[reply["error"]["message"]]
        assert "result" in await client.call("public/ping")
        await client.close()
    run(scenario())


def test_c34_ten_thousand_levels_of_nesting_fail_fast_with_depth_exceeded(target):
    raw = ENVELOPE % (',"params":{"a":' + "[" * 10000 + "]" * 10000 + "}")
    refused_then_served(target, raw, -32700, "parse_error", "depth_exceeded")


def test_c34_ten_thousand_levels_of_unclosed_nesting(target):
    refused_then_served(target, "[" * 10000, -32700, "parse_error", "depth_exceeded")


@pytest.mark.parametrize("members", [
    '"qty":"1","qty":"1000"',
    '"qty":"1","q\\u0074y":"1000"',     # the same key after unescaping
])
def test_c34_duplicate_keys_are_refused_not_last_wins(target, members):
    who = trader(target)
    order = json.dumps(limit_order("dup-1"))[1:-1].replace('"qty": "0.01", ', "")
    raw = '{"jsonrpc":"2.0","id":1,"method":"private/order.place","params":{%s,%s}}' % (order, members)

    async def scenario():
        client = await logged_in(target, who)
        await client.send_raw(raw)
        reply = await client.recv_json()
        assert reply["error"]["message"] == "parse_error" and reply["error"]["data"]["reason"] == "duplicate_key", reply
        # Neither reading was acted on: no order exists.
        assert (await client.call("private/orders.open"))["result"]["orders"] == []
        await client.close()
    run(scenario())


def test_c34_duplicate_top_level_member_is_refused(target):
    refused_then_served(target, '{"jsonrpc":"2.0","id":1,"method":"public/time","method":"private/logout"}',
                        -32700, "parse_error", "duplicate_key")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1.", "01", ".5", "+1"])
def test_c34_non_json_numbers_are_parse_errors(target, number):
    refused_then_served(target, '{"jsonrpc":"2.0","id":%s,"method":"public/time"}' % number, -32700, "parse_error")


@pytest.mark.parametrize("value, reason", [
    ("1e309", "expected_decimal_string"),
    ("-0", "expected_decimal_string"),
    ("0.01", "expected_decimal_string"),
    ('"1e309"', "invalid_decimal"),
    ('"1e2"', "invalid_decimal"),
    ('"-0"', "invalid_decimal"),
    ('"-0.01"', "invalid_decimal"),
    ('"NaN"', "invalid_decimal"),
    ('"Infinity"', "invalid_decimal"),
    ('"0x10"', "invalid_decimal"),
    ('" 0.01"', "invalid_decimal"),
    ('"0.0000000000000000001"', "invalid_decimal"),
])
def test_c89_hostile_quantities_are_invalid_params(target, value, reason):
    who = trader(target)
    params = json.dumps(limit_order("q-1")).replace('"qty": "0.01"', '"qty": %s' % value)
    raw = '{"jsonrpc":"2.0","id":1,"method":"private/order.place","params":%s}' % params
    reply = refused_then_served(target, raw, -32602, "invalid_params", reason, who=who)
    assert reply["error"]["data"]["field"] == "params.qty"


@pytest.mark.parametrize("value, reason", [
    ("1e309", "expected_integer"), ("-0", "expected_integer"), ("1.5", "expected_integer"),
    ("1e3", "expected_integer"), ('"1"', "expected_integer"), ("-1", "out_of_range"),
    ("99999999999999999999", "expected_integer"), ("86400001", "out_of_range"),
])
def test_c34_hostile_integers_are_invalid_params(target, value, reason):
    who = trader(target)
    raw = '{"jsonrpc":"2.0","id":1,"method":"private/cancel_all_after","params":{"timeout_ms":%s}}' % value
    reply = refused_then_served(target, raw, -32602, "invalid_params", reason, who=who)
    assert reply["error"]["data"]["field"] == "params.timeout_ms"


@pytest.mark.parametrize("field, value", [
    ("account_id", "a_someone_else"), ("accountId", "a_someone_else"), ("fee", "0"), ("fee_rate", "-0.01"),
    ("trader", "admin"), ("riskOverride", True), ("filled_qty", "1"), ("status", "filled"), ("__proto__", {}),
])
def test_c95_mass_assignment_fields_in_an_order_are_refused(target, field, value):
    who = trader(target)

    async def scenario():
        client = await logged_in(target, who)
        reply = await client.call("private/order.place", limit_order("mass-1", **{field: value}))
        assert reply["error"]["message"] == "invalid_params", reply
        assert reply["error"]["data"]["field"] == f"params.{field}" and reply["error"]["data"]["reason"] == "unknown_member", reply
        assert (await client.call("private/orders.open"))["result"]["orders"] == []
        await client.close()
    run(scenario())


@pytest.mark.parametrize("params, message", [
    (limit_order("neg", qty="0"), "qty_not_on_lot"),
    (limit_order("tick", price="58000.001"), "price_not_on_tick"),
    (limit_order("collar", price="1"), "price_out_of_band"),
    (dict(limit_order("inst"), instrument="BTC-USD\n"), "unknown_instrument"),
])
def test_c89_orders_outside_the_instrument_rules_are_rejected(target, params, message):
    who = trader(target)

    async def scenario():
        client = await logged_in(target, who)
        reply = await client.call("private/order.place", params)
        assert reply["error"]["message"] == message, reply
        await client.close()
    run(scenario())
