"""API-key authentication beyond the basics: every key type, restrictions, account disable."""
import asyncio
import os
import secrets
import time

import pytest
import websockets
from dilithium_py.ml_dsa import ML_DSA_65

from bulwark_client import Client, Ed25519Key, P256Key, b64u, channel_is


class MLDSA65Key:
    """ML-DSA-65 from dilithium-py, a pure-Python FIPS 204 implementation (nothing shared with swift-crypto)."""
    type = "ml-dsa-65"

    def __init__(self):
        self.public, self.private = ML_DSA_65.keygen()

    def public_raw(self):
        return self.public

    def sign(self, data):
        return ML_DSA_65.sign(self.private, data)


def account(cli, fund="USD=1000000,BTC=10,ETH=100"):
    return cli("accounts", "create", "--name", "keys-" + secrets.token_hex(4), "--fund", fund)["account_id"]


def key(cli, account_id, key=None, scopes="read,trade", *extra):
    key = key or Ed25519Key()
    created = cli("keys", "create", "--account", account_id, "--type", key.type, "--public-key", b64u(key.public_raw()),
                  "--scopes", scopes, *extra)
    return created["key_id"], key


def run(coro):
    return asyncio.run(coro)


async def try_login(gateway, key_id, signer, scopes=None):
    client = await Client.connect(gateway.url, gateway.ca)
    reply = await client.call("public/auth", client.auth_params(key_id, signer, scopes))
    return client, reply


def test_ml_dsa_65_login_with_an_independent_implementation(gateway, cli):
    key_id, signer = key(cli, account(cli), MLDSA65Key())

    async def scenario():
        client, reply = await try_login(gateway, key_id, signer, ["read"])
        assert reply["result"]["scopes"] == ["read"], reply
        await client.close()
    run(scenario())


def test_signature_by_the_wrong_algorithm_fails(gateway, cli):
    # A P-256 key registered; the client signs with Ed25519 (64 bytes too, but not ECDSA r||s).
    key_id, _ = key(cli, account(cli), P256Key())

    async def scenario():
        client, reply = await try_login(gateway, key_id, Ed25519Key())
        assert reply["error"]["message"] == "auth_failed"
        await client.close()
    run(scenario())


@pytest.mark.parametrize("allow, accepted", [
    ("127.0.0.0/8", True),
    ("127.0.0.1", True),
    ("10.0.0.0/8,192.168.0.0/16", False),
    ("::1/128", False),
])
def test_ip_allowlist(gateway, cli, allow, accepted):
    key_id, signer = key(cli, account(cli), None, "read", "--ip-allow", allow)
    shown = cli("keys", "show", key_id)
    assert len(shown["ip_allowlist"]) == len(allow.split(","))

    async def scenario():
        client, reply = await try_login(gateway, key_id, signer)
        assert ("result" in reply) is accepted, reply
        if not accepted:
            assert reply["error"] == {"code": 10002, "message": "auth_failed"}
        await client.close()
    run(scenario())


def test_instrument_allowlist_and_per_key_notional_cap(gateway, cli):
    key_id, signer = key(cli, account(cli), None, "read,trade", "--instruments", "BTC-USD", "--max-notional", "1000")

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        await client.login(key_id, signer)
        order = {"side": "buy", "type": "limit", "tif": "gtc"}
        reply = await client.call("private/order.place", dict(order, instrument="ETH-USD", qty="0.01", price="5000",
                                                               client_order_id="i1"))
        assert reply["error"]["message"] == "forbidden" and reply["error"]["data"]["field"] == "params.instrument"
        reply = await client.call("private/order.place", dict(order, instrument="BTC-USD", qty="0.1", price="60000",
                                                               client_order_id="i2"))
        assert reply["error"]["message"] == "risk_limit", reply              # 6000 > 1000
        reply = await client.call("private/order.place", dict(order, instrument="BTC-USD", qty="0.01", price="59000",
                                                               client_order_id="i3"))
        assert reply["result"]["status"] == "open", reply                     # 590 <= 1000
        await client.close()
    run(scenario())
    assert cli("keys", "show", key_id)["last_used_ms"] > 0


def test_disabling_an_account_ends_its_sessions_and_logins(gateway, cli):
    account_id = account(cli)
    key_id, signer = key(cli, account_id)

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        await client.login(key_id, signer)
        await asyncio.to_thread(cli, "accounts", "disable", account_id)
        notice = await client.next_notification(lambda m: m.get("method") == "session.terminated", timeout=5)
        assert notice["params"]["reason"] == "account_disabled"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.recv_json(timeout=5)
        assert closed.value.rcvd.code == 4002
        again, reply = await try_login(gateway, key_id, signer)
        assert reply["error"]["message"] == "auth_failed"
        await again.close()
        await asyncio.to_thread(cli, "accounts", "enable", account_id)
        back, reply = await try_login(gateway, key_id, signer)
        assert "result" in reply
        await back.close()
    run(scenario())


@pytest.fixture(scope="module")
def throttled_gateway(workdir):
    from conftest import Gateway
    server = Gateway(os.path.join(workdir, "throttle"), extra_env={
        "BULWARK_AUTH_THROTTLE_FREE_FAILURES": "3", "BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "1000",
        "BULWARK_AUTH_THROTTLE_BASE_DELAY_MS": "200", "BULWARK_AUTH_THROTTLE_MAX_DELAY_MS": "400",
        "BULWARK_AUTH_LOCKOUT_FAILURES": "6", "BULWARK_AUTH_LOCKOUT_MS": "600000"})
    yield server
    server.stop()


def test_brute_force_is_throttled_then_locks_the_key_until_an_operator_unlocks_it(throttled_gateway):
    from conftest import run_cli
    data = throttled_gateway.data
    account_id = run_cli(data, "accounts", "create", "--name", "victim-" + secrets.token_hex(3))["account_id"]
    key_id, signer = key(lambda *a: run_cli(data, *a), account_id, None, "read")
    attacker = Ed25519Key()

    async def attempt(client, signer):
        return await client.call("public/auth", client.auth_params(key_id, signer))

    async def scenario():
        client = await Client.connect(throttled_gateway.url, throttled_gateway.ca)
        # Three free failures, then the fourth attempt must wait.
        for _ in range(3):
            assert (await attempt(client, attacker))["error"]["message"] == "auth_failed"
        throttled = await attempt(client, attacker)
        assert throttled["error"]["message"] == "rate_limited" and throttled["error"]["data"]["bucket"] == "login"
        assert 0 < throttled["error"]["data"]["retry_after_ms"] <= 200
        # Waiting as told, failures continue up to the lockout (6 consecutive).
        failures = 3
        while failures < 6:
            reply = await attempt(client, attacker)
            if reply["error"]["message"] == "rate_limited":
                await asyncio.sleep(reply["error"]["data"]["retry_after_ms"] / 1000 + 0.01)
                continue
            assert reply["error"]["message"] == "auth_failed"
            failures += 1
        assert run_cli(data, "keys", "show", key_id)["locked_until_ms"] > time.time() * 1000
        await asyncio.sleep(0.45)
        # Locked: even the right key fails, with the same auth_failed.
        assert (await attempt(client, signer))["error"]["message"] == "auth_failed"
        assert "security: key locked after repeated failed logins" in throttled_gateway.output()
        # An operator unlocks; the owner logs in again.
        await asyncio.to_thread(run_cli, data, "keys", "unlock", key_id)
        await asyncio.sleep(0.45)
        reply = await attempt(client, signer)
        assert "result" in reply, reply
        await client.close()
    run(scenario())


class HMACKey:
    type = "hmac-sha256"

    def __init__(self, secret):
        self.secret = secret

    def sign(self, data):
        import hmac, hashlib
        return hmac.new(self.secret, data, hashlib.sha256).digest()


def create_hmac_key(data):
    from conftest import run_cli
    account_id = run_cli(data, "accounts", "create", "--name", "hmac-" + secrets.token_hex(3))["account_id"]
    created = run_cli(data, "keys", "create", "--account", account_id, "--type", "hmac-sha256", "--scopes", "read")
    secret = __import__("base64").urlsafe_b64decode(created["secret"] + "==")
    assert len(secret) == 32
    return created["key_id"], secret, created["secret"]


def test_hmac_keys_are_refused_unless_enabled(gateway):
    key_id, secret, _ = create_hmac_key(gateway.data)

    async def scenario():
        client, reply = await try_login(gateway, key_id, HMACKey(secret))
        assert reply["error"]["message"] == "auth_failed"
        await client.close()
    run(scenario())


def test_hmac_keys_when_enabled_with_secrets_sealed_at_rest_and_master_key_rotation(workdir):
    from conftest import Gateway, run_cli, stored_bytes
    server = Gateway(os.path.join(workdir, "hmac"), extra_env={"BULWARK_AUTH_HMAC_ENABLED": "true"})
    try:
        key_id, secret, secret_text = create_hmac_key(server.data)
        # The database holds no cleartext secret.
        blob = stored_bytes(server.data)
        assert secret not in blob and secret_text.encode() not in blob

        async def login_ok():
            client, reply = await try_login(server, key_id, HMACKey(secret))
            await client.close()
            return "result" in reply

        assert run(login_ok())
        wrong = HMACKey(b"\x00" * 32)

        async def login_wrong():
            client, reply = await try_login(server, key_id, wrong)
            await client.close()
            return reply["error"]["message"]
        assert run(login_wrong()) == "auth_failed"

        # Rotate the master key while the gateway runs: secrets are re-sealed, logins keep working.
        before = open(os.path.join(server.data, "keys", "master.key")).read()
        rotated = run_cli(server.data, "secrets", "rotate-master-key")
        assert rotated["resealed"] >= 1
        assert open(os.path.join(server.data, "keys", "master.key")).read() != before
        assert run(login_ok())
    finally:
        assert server.stop() == 0


def test_rotation_keeps_the_old_key_for_the_overlap_then_only_the_new_one(gateway, cli):
    account_id = account(cli)
    old_id, old_signer = key(cli, account_id, None, "read", "--ip-allow", "127.0.0.0/8", "--instruments", "BTC-USD")
    new_signer = Ed25519Key()
    rotated = cli("keys", "rotate", old_id, "--public-key", b64u(new_signer.public_raw()), "--overlap-minutes", "60")
    assert rotated["replaces"] == old_id and rotated["old_key_expires_ms"] > time.time() * 1000
    new_shown = cli("keys", "show", rotated["key_id"])
    # Same account, scopes and limits carry over.
    assert new_shown["account_id"] == account_id and new_shown["scopes"] == ["read"]
    assert new_shown["ip_allowlist"] == ["127.0.0.0/8"] and new_shown["instruments"] == ["BTC-USD"]

    async def logins(key_id, signer):
        client, reply = await try_login(gateway, key_id, signer)
        await client.close()
        return "result" in reply
    assert run(logins(old_id, old_signer)) and run(logins(rotated["key_id"], new_signer))
    # A rotation with no overlap retires the old key at once.
    newest = Ed25519Key()
    again = cli("keys", "rotate", rotated["key_id"], "--public-key", b64u(newest.public_raw()), "--overlap-minutes", "0")
    assert not run(logins(rotated["key_id"], new_signer))
    assert run(logins(again["key_id"], newest))


def test_a_key_that_requires_sealed_frames_cannot_use_plain_text_private_methods(gateway, cli):
    key_id, signer = key(cli, account(cli), None, "read,trade", "--sealed", "mac")
    assert cli("keys", "show", key_id)["sealed_policy"] == "mac"

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        await client.login(key_id, signer)
        reply = await client.call("private/session.status")
        assert reply["error"]["message"] == "sealed_required" and reply["error"]["code"] == 10012
        await client.close()
    run(scenario())
