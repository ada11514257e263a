"""The SDK against a live gateway: logins, session keys, books, orders, renewal, resume with replay,
rate-limit awareness, OAuth with DPoP, and the examples."""
import asyncio
import json
import os
import secrets
import subprocess
import sys

import pytest

from bulwark_sdk import BulwarkClient, BulwarkError, Ed25519Signer, P256Signer, new_client_order_id
from bulwark_sdk.keys import b64u

from bulwark_integration_conftest import Gateway, run_cli

HERE = os.path.dirname(__file__)


def run(coro):
    return asyncio.run(coro)


def account(data, fund="USD=1000000,BTC=10", signer=None, sealed="none"):
    account_id = run_cli(data, "accounts", "create", "--name", "sdk-" + secrets.token_hex(4), "--fund", fund)["account_id"]
    signer = signer or Ed25519Signer()
    key_id = run_cli(data, "keys", "create", "--account", account_id, "--type", signer.key_type, "--public-key",
                     b64u(signer.public_raw()), "--scopes", "read,trade", "--sealed", sealed)["key_id"]
    return account_id, key_id, signer


def client(server, **kwargs):
    identity = run_cli(server.data, "identity")["ed25519"]
    return BulwarkClient(server.url, server.ca, identity_public_key=identity, **kwargs)


async def until(predicate, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("signer", [Ed25519Signer(), P256Signer()], ids=["ed25519", "es256"])
def test_login_orders_idempotency_and_clock_skew(gateway, signer):
    _, key_id, signer = account(gateway.data, signer=signer)

    async def scenario():
        sdk = client(gateway)
        await sdk.connect()
        assert abs(sdk.clock_offset_ms) < 5000
        result = await sdk.login_with_key(key_id, signer)
        assert result["session_id"] == sdk.session_id
        coid = new_client_order_id()
        first = await sdk.place_limit("BTC-USD", "buy", "0.01", "58000", client_order_id=coid)
        again = await sdk.place_limit("BTC-USD", "buy", "0.01", "58000", client_order_id=coid)
        assert again["order_id"] == first["order_id"] and again["duplicate"] is True
        assert [o["order_id"] for o in await sdk.open_orders()] == [first["order_id"]]
        with pytest.raises(BulwarkError) as refused:
            await sdk.place_limit("BTC-USD", "buy", "0.01", "58000.001")
        assert refused.value.message == "price_not_on_tick"
        assert len(await sdk.cancel_all()) == 1
        await sdk.close()
    run(scenario())


def test_order_book_rebuilt_from_snapshot_and_deltas_matches_a_fresh_snapshot(gateway):
    _, key_id, signer = account(gateway.data)

    async def scenario():
        sdk = client(gateway)
        await sdk.connect()
        await sdk.login_with_key(key_id, signer)
        await sdk.subscribe("book.ETH-USD")
        await until(lambda: sdk.books["ETH-USD"].synced)
        for i in range(5):
            await sdk.place_limit("ETH-USD", "buy", "0.1", str(4980 - i), client_order_id=f"book-{i}-{secrets.token_hex(3)}")
        await sdk.cancel_all("ETH-USD")
        await asyncio.sleep(0.3)
        fresh = client(gateway)
        await fresh.connect()
        await fresh.subscribe("book.ETH-USD")
        await until(lambda: fresh.books["ETH-USD"].synced)
        assert sdk.books["ETH-USD"].bids == fresh.books["ETH-USD"].bids
        assert sdk.books["ETH-USD"].asks == fresh.books["ETH-USD"].asks and sdk.books["ETH-USD"].best_ask()
        assert sdk.gaps == 0
        await sdk.close()
        await fresh.close()
    run(scenario())


@pytest.mark.parametrize("mode,hybrid", [("aead", True), ("mac", False)])
def test_session_keys_seal_private_requests(gateway, mode, hybrid):
    _, key_id, signer = account(gateway.data, sealed=mode)

    async def scenario():
        sdk = client(gateway)
        await sdk.connect()
        await sdk.login_with_key(key_id, signer, session_keys=mode, hybrid=hybrid)
        assert sdk._sealed is not None
        balances = await sdk.balances()
        assert any(b["asset"] == "USD" for b in balances)
        placed = await sdk.place_limit("BTC-USD", "buy", "0.01", "58000")
        assert placed["status"] == "open" and sdk._sealed.next_send == 3 and sdk._sealed.next_receive == 3
        # Without session keys the same key is refused (its policy requires sealed frames).
        with pytest.raises(BulwarkError) as refused:
            await sdk.call("private/orders.open", sealed=False)
        assert refused.value.message == "sealed_required"
        await sdk.close()
    run(scenario())


def test_renewal_in_place_on_session_expiring(workdir):
    server = Gateway(os.path.join(workdir, "sdk-short"), extra_env={
        "BULWARK_SESSION_IDLE_TIMEOUT_MS": "11000", "BULWARK_SESSION_ABSOLUTE_TIMEOUT_MS": "11000",
        "BULWARK_SESSION_WARNING_LEAD_MS": "10000"})
    _, key_id, signer = account(server.data)

    async def scenario():
        sdk = client(server)
        await sdk.connect()
        first = await sdk.login_with_key(key_id, signer)
        expiring = []
        sdk.on("session.expiring", lambda m: expiring.append(m))
        await until(lambda: expiring and sdk.login_result["expires_at_ms"] > first["expires_at_ms"], timeout=10)
        assert sdk.session_id == first["session_id"] and sdk.login_result["renewed"] is True
        assert "session_id" in await sdk.call("private/session.status")
        await sdk.close()
    try:
        run(scenario())
    finally:
        assert server.stop() == 0


def test_reconnect_resumes_and_replays_missed_events_exactly_once(workdir):
    server = Gateway(os.path.join(workdir, "sdk-resume"))
    _, key_id, signer = account(server.data, fund="USD=1000000")
    _, seller_id, seller_signer = account(server.data, fund="BTC=10")

    async def scenario():
        sdk = client(server)
        await sdk.connect()
        await sdk.login_with_key(key_id, signer)
        await sdk.subscribe("orders", "fills", "balances", "session")
        fills = []
        sdk.on("fills", lambda p: fills.append(p["data"]["trade_id"]))
        bid = await sdk.place_limit("BTC-USD", "buy", "0.05", "60000")
        await asyncio.sleep(0.3)
        session_id = sdk.session_id
        sdk.ws.transport.abort()   # the network drops
        seller = client(server, reconnect=False)
        await seller.connect()
        await seller.login_with_key(seller_id, seller_signer)
        for _ in range(3):
            await seller.place_limit("BTC-USD", "sell", "0.01", "60000")
        await until(lambda: sdk.reconnects == 1, timeout=15)
        assert sdk.session_id == session_id and sdk.login_result["resumed"] is True
        await seller.place_limit("BTC-USD", "sell", "0.01", "60000")
        await until(lambda: len(fills) == 4)
        await asyncio.sleep(0.3)
        assert len(fills) == len(set(fills)) == 4
        assert (await sdk.call("private/order.status", {"order_id": bid["order_id"]}))["filled_qty"] == "0.04"
        await sdk.close()
        await seller.close()
    try:
        run(scenario())
    finally:
        assert server.stop() == 0


def test_rate_limited_requests_wait_and_retry(workdir):
    server = Gateway(os.path.join(workdir, "sdk-limits"), extra_env={"BULWARK_RATE_TIER_STANDARD_ORDERS": "2/s"})
    _, key_id, signer = account(server.data)

    async def scenario():
        sdk = client(server, rate_limit_retries=10)
        await sdk.connect()
        await sdk.login_with_key(key_id, signer)
        placed = [await sdk.place_limit("BTC-USD", "buy", "0.01", "58000") for _ in range(6)]
        assert len({p["order_id"] for p in placed}) == 6
        strict = client(server, rate_limit_retries=0)
        await strict.connect()
        await strict.login_with_key(key_id, signer)
        with pytest.raises(BulwarkError) as refused:
            for _ in range(6):
                await strict.place_limit("BTC-USD", "buy", "0.01", "58000")
        assert refused.value.message == "rate_limited" and refused.value.data["bucket"] == "orders"
        await sdk.close()
        await strict.close()
    try:
        run(scenario())
    finally:
        assert server.stop() == 0


def test_oauth_client_credentials_with_dpop_then_bearer_login(gateway, workdir):
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from bulwark_sdk.oauth import OAuthClient
    account_id = run_cli(gateway.data, "accounts", "create", "--name", "sdk-oauth-" + secrets.token_hex(3))["account_id"]
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(__import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.Raw,
                                        __import__("cryptography.hazmat.primitives.serialization", fromlist=["PublicFormat"]).PublicFormat.Raw)
    jwk_path = os.path.join(workdir, "sdk-client.jwk.json")
    json.dump({"kty": "OKP", "crv": "Ed25519", "x": b64u(raw), "kid": "sdk-1"}, open(jwk_path, "w"))
    client_id = run_cli(gateway.data, "oauth", "clients", "create", "--account", account_id, "--auth", "private_key_jwt",
                        "--jwk", jwk_path, "--scopes", "read")["client_id"]
    issuer = "https://" + gateway.url.split("/")[2]
    oauth = OAuthClient(issuer, client_id, key, ca_file=gateway.ca, kid="sdk-1")
    token = oauth.token(scope="read")
    assert token["token_type"] == "DPoP"

    async def scenario():
        sdk = client(gateway)
        await sdk.connect()
        result = await sdk.login_with_token(token["access_token"], dpop=oauth.websocket_proof(token["access_token"], gateway.url))
        assert result["account_id"] == account_id and result["scopes"] == ["read"]
        await sdk.close()
    run(scenario())


def test_examples_run_against_the_demo_market(gateway):
    demo = json.load(open(os.path.join(gateway.data, "demo", "demo.json")))
    examples = os.path.join(HERE, "..", "examples")
    printer = subprocess.run([sys.executable, os.path.join(examples, "market_data_printer.py"), "--data", gateway.data,
                              "--messages", "3"], capture_output=True, text=True, timeout=60)
    assert printer.returncode == 0, printer.stderr
    assert "book BTC-USD" in printer.stdout
    maker = subprocess.run([sys.executable, os.path.join(examples, "market_maker.py"), "--data", gateway.data,
                            "--seconds", "3"], capture_output=True, text=True, timeout=60)
    assert maker.returncode == 0, maker.stderr
    assert "quoted" in maker.stdout and "cancelled all" in maker.stdout
    assert demo["url"] == gateway.url or demo["url"]
