"""End to end against the running gateway, over wss:// with third-party clients."""
import asyncio
import json
import os
import secrets
import ssl
import stat
import subprocess
import sys
import time

import pytest
import websockets

from bulwark_client import Client, Ed25519Key, P256Key, b64u, channel_is
from conftest import BINARY, STORE, Gateway, run_cli


def run(coro):
    return asyncio.run(coro)


def new_account(cli, name_prefix, fund="USD=1000000,BTC=100,ETH=100"):
    return cli("accounts", "create", "--name", f"{name_prefix}-{secrets.token_hex(4)}", "--fund", fund)["account_id"]


def new_key(cli, account, key=None, scopes="read,trade"):
    key = key or Ed25519Key()
    key_id = cli("keys", "create", "--account", account, "--type", key.type, "--public-key", b64u(key.public_raw()),
                 "--scopes", scopes)["key_id"]
    return key_id, key


@pytest.fixture
def trader(cli):
    account = new_account(cli, "trader")
    key_id, key = new_key(cli, account)
    return account, key_id, key


# --- first run provisioning -------------------------------------------------------------------

def test_first_run_created_data_folder_with_private_files(gateway):
    data = gateway.data
    database = ["bulwark.sqlite"] if STORE == "sqlite" else []
    for path in database + ["tls/ca.pem", "tls/server.pem", "keys/gateway-identity.pem", "demo/demo.json"]:
        assert os.path.exists(os.path.join(data, path)), path
    for secret in ["tls/ca-key.pem", "tls/server-key.pem", "keys/gateway-identity.pem", "demo/demo-ed25519.pem"]:
        mode = stat.S_IMODE(os.stat(os.path.join(data, secret)).st_mode)
        assert mode == 0o600, (secret, oct(mode))
    assert "listening" in gateway.output() and "trust CA" in gateway.output()


def test_tls_is_1_3_and_chain_validates_against_dev_ca(gateway):
    host, port = gateway.url[len("wss://"):].split("/")[0].rsplit(":", 1)
    import socket
    context = ssl.create_default_context(cafile=gateway.ca)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == "TLSv1.3"
    # TLS 1.2 is refused by default.
    context12 = ssl.create_default_context(cafile=gateway.ca)
    context12.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            context12.wrap_socket(raw, server_hostname="localhost")


def test_untrusted_client_cannot_connect_without_the_ca(gateway):
    async def scenario():
        with pytest.raises(ssl.SSLCertVerificationError):
            await websockets.connect(gateway.url, ssl=ssl.create_default_context(), open_timeout=5)
    run(scenario())


# --- hello and public methods -------------------------------------------------------------------

def test_hello_and_public_methods(gateway):
    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        hello = client.hello["params"]
        assert hello["protocol"] == "bulwark.v1"
        assert len(__import__("base64").urlsafe_b64decode(hello["challenge"] + "==")) == 32
        assert hello["limits"]["max_message_bytes"] == 65536
        assert client.ws.subprotocol == "bulwark.v1"
        reply = await client.call("public/time")
        assert abs(reply["result"]["server_time_ms"] - time.time() * 1000) < 5000
        instruments = (await client.call("public/instruments"))["result"]["instruments"]
        kinds = {i["symbol"]: i["kind"] for i in instruments}
        assert kinds["BTC-USD"] == "spot" and kinds["BTC-PERP"] == "perpetual"
        assert any(k == "option" for k in kinds.values())
        await client.close()
    run(scenario())


def test_every_hello_challenge_is_fresh(gateway):
    async def scenario():
        a = await Client.connect(gateway.url, gateway.ca)
        b = await Client.connect(gateway.url, gateway.ca)
        assert a.challenge != b.challenge
        await a.close()
        await b.close()
    run(scenario())


@pytest.mark.parametrize("raw, code, message", [
    ("not json", -32700, "parse_error"),
    ('{"jsonrpc":"2.0","id":1,"method":"public/time","params":{},"params":{}}', -32700, "parse_error"),
    ('[{"jsonrpc":"2.0","id":1,"method":"public/time"}]', -32600, "invalid_request"),
    ('{"jsonrpc":"1.0","id":1,"method":"public/time"}', -32600, "invalid_request"),
    ('{"jsonrpc":"2.0","id":1.5,"method":"public/time"}', -32600, "invalid_request"),
    ('{"jsonrpc":"2.0","id":1,"method":"public/nope"}', -32601, "method_not_found"),
    ('{"jsonrpc":"2.0","id":1,"method":"public/time","params":{"x":1}}', -32602, "invalid_params"),
    ('{"jsonrpc":"2.0","id":1,"method":"public/time","params":' + "[" * 20 + "]" * 20 + "}", -32700, "parse_error"),
    ('{"jsonrpc":"2.0","id":1,"method":"public/time","params":{"s":"' + "x" * 6145 + '"}}', -32700, "parse_error"),
    ('{"jsonrpc":"2.0","id":1,"method":"public/time","params":{"s":"' + "x" * 6144 + '"}}', -32602, "invalid_params"),
])
def test_malformed_requests_get_their_error_and_the_connection_survives(gateway, raw, code, message):
    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        await client.send_raw(raw)
        reply = await client.recv_json()
        assert reply["error"]["code"] == code and reply["error"]["message"] == message, reply
        assert "result" in await client.call("public/ping")
        await client.close()
    run(scenario())


def test_private_method_before_auth_is_unauthenticated(gateway):
    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        reply = await client.call("private/session.status")
        assert reply["error"]["message"] == "unauthenticated"
        reply = await client.call("subscribe", {"channels": ["orders"]})
        assert reply["error"]["message"] == "unauthenticated"
        await client.close()
    run(scenario())


# --- authentication ---------------------------------------------------------------------------------

def test_login_ed25519_and_es256(gateway, cli):
    async def scenario(key):
        account = new_account(cli, "login")
        key_id, key = new_key(cli, account, key)
        client = await Client.connect(gateway.url, gateway.ca)
        result = await client.login(key_id, key, ["read"])
        assert result["account_id"] == account and result["scopes"] == ["read"]
        assert result["session_id"].startswith("s_") and result["challenge"] != client.hello["params"]["challenge"]
        status = (await client.call("private/session.status"))["result"]
        assert status["session_id"] == result["session_id"] and status["key_id"] == key_id
        await client.close()
    run(scenario(Ed25519Key()))
    run(scenario(P256Key()))


def test_login_frame_replayed_on_another_connection_fails(gateway, trader):
    _, key_id, key = trader

    async def scenario():
        first = await Client.connect(gateway.url, gateway.ca)
        params = first.auth_params(key_id, key, ["read"])
        assert "result" in await first.call("public/auth", params)
        second = await Client.connect(gateway.url, gateway.ca)
        reply = await second.call("public/auth", params)
        assert reply["error"]["message"] == "auth_failed"
        # Replaying on the same connection fails too: the challenge was consumed.
        reply = await first.call("public/auth", params)
        assert reply["error"]["message"] == "auth_failed"
        await first.close()
        await second.close()
    run(scenario())


def test_nonce_reuse_is_a_replay(gateway, trader):
    _, key_id, key = trader

    async def scenario():
        nonce = b64u(secrets.token_bytes(16))
        a = await Client.connect(gateway.url, gateway.ca)
        assert "result" in await a.call("public/auth", a.auth_params(key_id, key, nonce=nonce))
        b = await Client.connect(gateway.url, gateway.ca)
        reply = await b.call("public/auth", b.auth_params(key_id, key, nonce=nonce))
        assert reply["error"]["message"] == "replay_detected"
        await a.close()
        await b.close()
    run(scenario())


def test_timestamp_outside_window_reveals_skew(gateway, trader):
    _, key_id, key = trader

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        for offset in (-31_000, 6_000):
            ts = int(time.time() * 1000) + offset
            reply = await client.call("public/auth", client.auth_params(key_id, key, timestamp_ms=ts))
            assert reply["error"]["message"] == "timestamp_out_of_window"
            assert abs(reply["error"]["data"]["skew_ms"] - offset) < 3000
        await client.close()
    run(scenario())


def test_bad_logins_all_look_alike(gateway, cli, trader):
    account, key_id, key = trader
    other = Ed25519Key()

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        cases = [
            client.auth_params(key_id, other),                        # wrong private key
            client.auth_params("k_doesnotexist", key),                # unknown key
            client.auth_params(key_id, key, scopes=["account"]),      # scope beyond the key's
            dict(client.auth_params(key_id, key, scopes=["read"]), scopes=["read", "trade"]),  # scopes changed after signing
        ]
        for params in cases:
            reply = await client.call("public/auth", params)
            assert reply["error"] == {"code": 10002, "message": "auth_failed"}, reply
        await client.close()
    run(scenario())


def test_read_key_cannot_place_orders(gateway, cli):
    account = new_account(cli, "reader")
    key_id, key = new_key(cli, account, scopes="read")

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        await client.login(key_id, key)
        reply = await client.call("private/order.place", {
            "instrument": "BTC-USD", "side": "buy", "type": "limit", "qty": "1", "price": "100",
            "tif": "gtc", "client_order_id": "r1"})
        assert reply["error"]["message"] == "forbidden"
        await client.close()
    run(scenario())


def test_auth_deadline_closes_with_1008(gateway):
    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.recv_json(timeout=10)
        assert closed.value.rcvd.code == 1008
    run(scenario())


def test_revoking_a_key_closes_its_live_session_with_4002(gateway, cli, trader):
    _, key_id, key = trader

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        await client.login(key_id, key)
        started = time.monotonic()
        await asyncio.to_thread(cli, "keys", "revoke", key_id)
        notice = await client.next_notification(lambda m: m.get("method") == "session.terminated", timeout=5)
        assert notice["params"]["reason"] == "key_revoked"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.recv_json(timeout=5)
        assert closed.value.rcvd.code == 4002
        assert time.monotonic() - started < 3
        again = await Client.connect(gateway.url, gateway.ca)
        reply = await again.call("public/auth", again.auth_params(key_id, key))
        assert reply["error"]["message"] == "auth_failed"
        await again.close()
    run(scenario())


# --- trading --------------------------------------------------------------------------------------------

def test_two_accounts_trade_and_the_trade_reaches_subscribers(gateway, cli):
    seller_account = new_account(cli, "seller")
    buyer_account = new_account(cli, "buyer")
    seller_key_id, seller_key = new_key(cli, seller_account)
    buyer_key_id, buyer_key = new_key(cli, buyer_account)
    instrument = "ETH-USD"

    async def scenario():
        watcher = await Client.connect(gateway.url, gateway.ca)
        reply = await watcher.call("subscribe", {"channels": [f"trades.{instrument}", f"book.{instrument}"]})
        assert reply["result"]["channels"] == [f"trades.{instrument}", f"book.{instrument}"]
        snapshot = await watcher.next_notification(channel_is(f"book.{instrument}"))
        assert snapshot["params"]["data"]["type"] == "snapshot"
        book_seq = snapshot["params"]["seq"]

        seller = await Client.connect(gateway.url, gateway.ca)
        await seller.login(seller_key_id, seller_key)
        buyer = await Client.connect(gateway.url, gateway.ca)
        await buyer.login(buyer_key_id, buyer_key)
        assert "result" in await buyer.call("subscribe", {"channels": ["fills", "orders"]})

        ask = await seller.call("private/order.place", {
            "instrument": instrument, "side": "sell", "type": "limit", "qty": "2", "price": "5000.5",
            "tif": "gtc", "client_order_id": "ask-1"})
        assert ask.get("result", {}).get("status") == "open", ask
        delta = await watcher.next_notification(channel_is(f"book.{instrument}"))
        assert delta["params"]["data"]["type"] == "delta"
        assert delta["params"]["prev_seq"] == book_seq and delta["params"]["seq"] == book_seq + 1
        assert ["5000.5", "2"] in delta["params"]["data"]["asks"]

        bid = await buyer.call("private/order.place", {
            "instrument": instrument, "side": "buy", "type": "limit", "qty": "0.5", "price": "5001",
            "tif": "ioc", "client_order_id": "bid-1"})
        result = bid["result"]
        assert result["status"] == "filled" and result["filled_qty"] == "0.5" and result["avg_price"] == "5000.5", result

        trade = await watcher.next_notification(channel_is(f"trades.{instrument}"))
        assert trade["params"]["data"]["price"] == "5000.5" and trade["params"]["data"]["qty"] == "0.5"
        assert trade["params"]["data"]["taker_side"] == "buy"
        fill = await buyer.next_notification(channel_is("fills"))
        assert fill["params"]["data"]["order_id"] == result["order_id"]

        # Idempotency: the same client_order_id returns the original order, flagged duplicate.
        again = await buyer.call("private/order.place", {
            "instrument": instrument, "side": "buy", "type": "limit", "qty": "0.5", "price": "5001",
            "tif": "ioc", "client_order_id": "bid-1"})
        assert again["result"]["order_id"] == result["order_id"] and again["result"]["duplicate"] is True

        # Another account cannot see or cancel the seller's order (BOLA).
        cancel = await buyer.call("private/order.cancel", {"order_id": ask["result"]["order_id"]})
        assert cancel["error"]["message"] == "order_not_found"
        cancel = await seller.call("private/order.cancel", {"order_id": ask["result"]["order_id"]})
        assert cancel["result"]["status"] == "cancelled" and cancel["result"]["filled_qty"] == "0.5"

        balances = {b["asset"]: b for b in (await buyer.call("private/account.balances"))["result"]["balances"]}
        assert balances["ETH"]["total"] == "100.5"
        for client in (watcher, seller, buyer):
            await client.close()
    run(scenario())


@pytest.mark.parametrize("params, message, field", [
    ({"qty": "0.00001"}, "qty_not_on_lot", None),
    ({"price": "5000.123"}, "price_not_on_tick", None),
    ({"instrument": "DOGE-USD"}, "unknown_instrument", None),
    ({"qty": "1e3"}, "invalid_params", "params.qty"),
    ({"qty": 1}, "invalid_params", "params.qty"),
    ({"account_id": "a_victim"}, "invalid_params", "params.account_id"),
    ({"fee": "0"}, "invalid_params", "params.fee"),
    ({"client_order_id": "has space"}, "invalid_params", "params.client_order_id"),
    ({"deadline_ms": 1}, "deadline_exceeded", None),
    ({"qty": "1" * 40}, "invalid_params", "params.qty"),            # once overflowed Int128 and crashed the server
    ({"price": "9" * 18 + "." + "9" * 19}, "invalid_params", "params.price"),
])
def test_order_validation(gateway, trader, params, message, field):
    _, key_id, key = trader
    order = {"instrument": "BTC-USD", "side": "buy", "type": "limit", "qty": "0.01", "price": "100",
             "tif": "gtc", "client_order_id": "v-" + secrets.token_hex(4)}
    order.update(params)

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        await client.login(key_id, key)
        reply = await client.call("private/order.place", order)
        assert reply["error"]["message"] == message, reply
        if field:
            assert reply["error"]["data"]["field"] == field
        await client.close()
    run(scenario())


def test_demo_walkthrough_trades_against_house_liquidity(gateway):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "walkthrough.py")
    out = subprocess.run([sys.executable, os.path.abspath(script), "--data", gateway.data], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "logged in" in out.stdout
    assert '"status": "filled"' in out.stdout, out.stdout
    assert "trades.BTC-USD #" in out.stdout


# --- lifecycle ----------------------------------------------------------------------------------------

def test_second_start_reuses_everything_and_sigterm_drains(workdir):
    data = os.path.join(workdir, "lifecycle")
    first = Gateway(data)
    ca_before = open(first.ca).read()
    server_cert_before = open(os.path.join(data, "tls", "server.pem")).read()
    demo = json.load(open(os.path.join(data, "demo", "demo.json")))
    assert first.stop() == 0
    second = Gateway(data)
    assert open(second.ca).read() == ca_before
    assert open(os.path.join(data, "tls", "server.pem")).read() == server_cert_before
    assert "created  demo" not in second.output() and "reused" in second.output()

    async def scenario():
        client = await Client.connect(second.url, second.ca)
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        class DemoKey:
            private = load_pem_private_key(open(demo["private_key"], "rb").read(), None)

            def sign(self, data):
                return self.private.sign(data)

        await client.login(demo["key_id"], DemoKey())
        second.process.send_signal(15)
        notice = await client.next_notification(lambda m: m.get("method") == "server.shutdown", timeout=10)
        assert notice["params"]["deadline_ms"] > 0
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.recv_json(timeout=15)
        assert closed.value.rcvd.code == 1001
    run(scenario())
    assert second.process.wait(20) == 0


def test_cli_errors_are_one_line_and_non_zero(gateway):
    out = subprocess.run([BINARY, "keys", "create", "--data", gateway.data, "--account", "a_missing", "--type",
                          "ed25519", "--public-key", b64u(Ed25519Key().public_raw()), "--scopes", "read"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "a_missing" in out.stderr
    out = subprocess.run([BINARY, "keys", "create", "--data", gateway.data, "--account", "a_x", "--type", "ed25519",
                          "--public-key", "AAAA", "--scopes", "read"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "public key" in out.stderr
