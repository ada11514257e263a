"""TOTP step-up (RFC 6238), risk-adaptive sessions, session records and resume.

The authenticator app is `pyotp` and the QR code is read with `zxing-cpp`: neither shares code
with the gateway. Different networks are simulated over real sockets by connecting from other
loopback addresses (127.0.x.y), which the gateway sees as other /24 networks.
"""
import asyncio
import io
import os
import time

import pyotp
import pytest
import websockets
import zxingcpp
from PIL import Image

from bulwark_client import Client, Ed25519Key, b64u, channel_is
from conftest import BINARY, Gateway, run_cli, provision_trader, stored_bytes


def run(coro):
    return asyncio.run(coro)


def trader(data, scopes="read,trade", fund="USD=10000000,BTC=100"):
    return provision_trader(data, "m", fund, scopes)


def order(client, coid, price="58000", qty="0.01"):
    return client.call("private/order.place", {"instrument": "BTC-USD", "side": "buy", "type": "limit", "qty": qty,
                                               "price": price, "tif": "gtc", "client_order_id": coid})


def enroll(data, account_id, tmp_path, *extra):
    qr_path = os.path.join(tmp_path, f"qr-{account_id}.png")
    enrolment = run_cli(data, "mfa", "enroll", "--account", account_id, "--qr", qr_path, *extra)
    return enrolment, qr_path


@pytest.fixture(scope="module")
def mfa_gateway(workdir):
    # Orders of 1000 USD or more need a step-up here (the default threshold is 1,000,000).
    server = Gateway(os.path.join(workdir, "mfa"), extra_env={
        "BULWARK_MFA_STEP_UP_ORDER_NOTIONAL": "1000", "BULWARK_MFA_LOCKOUT_FAILURES": "5",
        "BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "1000"})
    yield server
    server.stop()


def test_enrolment_gives_a_scannable_otpauth_qr_code_and_recovery_codes(mfa_gateway, tmp_path):
    account_id, _, _ = trader(mfa_gateway.data)
    enrolment, qr_path = enroll(mfa_gateway.data, account_id, str(tmp_path))
    uri = enrolment["otpauth_uri"]
    assert uri.startswith("otpauth://totp/Bulwark:") and "issuer=Bulwark" in uri and enrolment["status"] == "pending"
    # An independent decoder reads the PNG back to the exact URI, and so does the JSON copy.
    for image in (Image.open(qr_path), Image.open(io.BytesIO(__import__("base64").b64decode(enrolment["qr_png_base64"])))):
        decoded = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
        assert [d.text for d in decoded] == [uri]
    # pyotp (the "authenticator app") understands the URI: same secret, SHA1, 6 digits, 30 s.
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == enrolment["secret"] and parsed.digits == 6 and parsed.interval == 30
    assert len(enrolment["recovery_codes"]) == 10 and len(set(enrolment["recovery_codes"])) == 10
    status = run_cli(mfa_gateway.data, "mfa", "status", "--account", account_id)
    assert status == {"enrolled": True, "active": False, "algorithm": "SHA1", "digits": 6, "recovery_codes_left": 10}
    # The seed is sealed at rest: the database never holds it in the clear.
    database = stored_bytes(mfa_gateway.data)
    raw_secret = __import__("base64").b32decode(enrolment["secret"] + "=" * (-len(enrolment["secret"]) % 8))
    assert raw_secret not in database and enrolment["secret"].encode() not in database


@pytest.mark.parametrize("algorithm,digits", [("sha256", 8), ("sha512", 7)])
def test_sha256_and_sha512_factors_verify(mfa_gateway, tmp_path, algorithm, digits):
    account_id, key_id, key = trader(mfa_gateway.data)
    enrolment, _ = enroll(mfa_gateway.data, account_id, str(tmp_path), "--algorithm", algorithm, "--digits", str(digits))
    totp = pyotp.parse_uri(enrolment["otpauth_uri"])
    assert totp.digits == digits

    async def scenario():
        client = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        await client.login(key_id, key)
        reply = await client.call("private/mfa.verify", {"code": totp.now()})
        assert reply["result"]["assurance"] == "aal2" and reply["result"]["method"] == "totp", reply
        await client.close()
    run(scenario())


def test_step_up_for_large_orders_with_replay_and_window_checks(mfa_gateway, tmp_path):
    account_id, key_id, key = trader(mfa_gateway.data)

    async def scenario():
        client = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        result = await client.login(key_id, key)
        assert result["mfa"] == "none" and result["assurance"] == "aal1"
        assert result["risk"]["level"] == "low" and 0 <= result["risk"]["score"] < 0.25
        # Without a factor the large order is refused, and the client is told it cannot step up.
        refused = await order(client, "big-0", qty="0.05")
        assert refused["error"]["message"] == "mfa_required" and refused["error"]["data"]["reason"] == "mfa_not_enrolled"
        assert "result" in await order(client, "small-0", qty="0.01")  # 580 USD: below the threshold
        await client.close()
    run(scenario())

    enrolment, _ = enroll(mfa_gateway.data, account_id, str(tmp_path))
    totp = pyotp.parse_uri(enrolment["otpauth_uri"])

    async def stepped_up():
        client = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        result = await client.login(key_id, key)
        assert result["mfa"] == "totp"
        refused = await order(client, "big-1", qty="0.05")   # 2900 USD
        assert refused["error"]["code"] == 10008 and refused["error"]["data"]["reason"] == "step_up_for_order_notional"
        # Codes two steps away are refused (±1 step is the window).
        for offset in (-60, 60):
            reply = await client.call("private/mfa.verify", {"code": totp.at(time.time() + offset)})
            assert reply["error"]["message"] == "mfa_invalid", reply
        code = totp.now()
        verified = await client.call("private/mfa.verify", {"code": code})
        assert verified["result"]["assurance"] == "aal2" and verified["result"]["step_up_until_ms"] > time.time() * 1000
        assert "result" in await order(client, "big-1", qty="0.05")
        status = (await client.call("private/session.status"))["result"]
        assert status["assurance"] == "aal2" and status["mfa_verified_ms"] > 0
        # The same code is never accepted twice, not even by a second session of the account.
        assert (await client.call("private/mfa.verify", {"code": code}))["error"]["message"] == "mfa_invalid"
        other = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        await other.login(key_id, key)
        assert (await other.call("private/mfa.verify", {"code": code}))["error"]["message"] == "mfa_invalid"
        # A recovery code works once.
        recovery = enrolment["recovery_codes"][0]
        assert (await other.call("private/mfa.verify", {"code": recovery}))["result"]["method"] == "recovery_code"
        assert (await other.call("private/mfa.verify", {"code": recovery}))["error"]["message"] == "mfa_invalid"
        assert run_cli(mfa_gateway.data, "mfa", "status", "--account", account_id)["recovery_codes_left"] == 9
        assert run_cli(mfa_gateway.data, "mfa", "status", "--account", account_id)["active"] is True
        await client.close()
        await other.close()
    run(stepped_up())


def test_totp_brute_force_is_throttled_then_locked_and_an_operator_unlocks(mfa_gateway, tmp_path):
    account_id, key_id, key = trader(mfa_gateway.data)
    enrolment, _ = enroll(mfa_gateway.data, account_id, str(tmp_path))
    totp = pyotp.parse_uri(enrolment["otpauth_uri"])
    wrong = f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"

    async def scenario():
        client = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        await client.login(key_id, key)
        for _ in range(3):  # the free failures
            assert (await client.call("private/mfa.verify", {"code": wrong}))["error"]["message"] == "mfa_invalid"
        throttled = (await client.call("private/mfa.verify", {"code": totp.now()}))["error"]
        assert throttled["message"] == "rate_limited" and throttled["data"]["bucket"] == "mfa"
        assert 0 < throttled["data"]["retry_after_ms"] <= 1000
        locked = None
        for _ in range(10):
            await asyncio.sleep(throttled.get("data", {}).get("retry_after_ms", 0) / 1000 + 0.05)
            reply = (await client.call("private/mfa.verify", {"code": wrong}))["error"]
            if reply.get("data", {}).get("reason") == "mfa_locked":
                locked = reply
                break
            throttled = reply
        assert locked is not None and locked["data"]["until_ms"] > time.time() * 1000
        # Locked: even the right code is refused until an operator unlocks the factor.
        assert (await client.call("private/mfa.verify", {"code": totp.now()}))["error"]["data"]["reason"] == "mfa_locked"
        run_cli(mfa_gateway.data, "mfa", "unlock", "--account", account_id)
        assert (await client.call("private/mfa.verify", {"code": totp.now()}))["result"]["assurance"] == "aal2"
        await client.close()
    run(scenario())


def test_mfa_verify_without_a_factor_and_bad_params(mfa_gateway):
    _, key_id, key = trader(mfa_gateway.data)

    async def scenario():
        client = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        assert (await client.call("private/mfa.verify", {"code": "123456"}))["error"]["message"] == "unauthenticated"
        await client.login(key_id, key)
        reply = await client.call("private/mfa.verify", {"code": "123456"})
        assert reply["error"]["message"] == "mfa_invalid" and reply["error"]["data"]["reason"] == "mfa_not_enrolled"
        assert (await client.call("private/mfa.verify", {}))["error"]["data"]["field"] == "params.code"
        assert (await client.call("private/mfa.verify", {"code": "1", "remember": True}))["error"]["data"]["field"] == "params.remember"
        await client.close()
    run(scenario())


@pytest.fixture(scope="module")
def risk_gateway(workdir):
    # Short rate windows so the request-rate baseline warms up in seconds, not minutes.
    server = Gateway(os.path.join(workdir, "risk"), extra_env={
        "BULWARK_RISK_RATE_WINDOW_MS": "300", "BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "1000"})
    yield server
    server.stop()


def test_risk_rises_shortens_timeouts_demands_step_up_then_ends_the_session(risk_gateway, tmp_path):
    data = risk_gateway.data
    account_id, key_id, key = trader(data)
    second_key = Ed25519Key()
    second_id = run_cli(data, "keys", "create", "--account", account_id, "--type", "ed25519", "--public-key",
                        b64u(second_key.public_raw()), "--scopes", "read,trade")["key_id"]
    enroll(data, account_id, str(tmp_path))

    async def scenario():
        # 1. A calm history from the usual network: one request per window.
        home = await Client.connect(risk_gateway.url, risk_gateway.ca)
        calm = await home.login(key_id, key)
        assert calm["risk"]["level"] == "low"
        base_idle = calm["idle_timeout_ms"]
        for _ in range(8):
            assert "result" in await home.call("private/session.status")
            await asyncio.sleep(0.3)
        await home.call("private/logout", {"cancel_orders": False})
        await home.close()
        # 2. From another network, someone fails to log in to the account, three times on each key.
        for signer_id in (key_id, second_id):
            for _ in range(3):
                bad = await Client.connect(risk_gateway.url, risk_gateway.ca, local_addr=("127.0.9.7", 0))
                reply = await bad.call("public/auth", bad.auth_params(signer_id, Ed25519Key()))
                assert reply["error"]["message"] == "auth_failed"
                await bad.close()
        await asyncio.sleep(1.1)  # the key's own failed-login throttle (500 ms after 3 failures)

        # 3. Then a login from a network this key never used.
        away = await Client.connect(risk_gateway.url, risk_gateway.ca, local_addr=("127.0.9.7", 0))
        risky = await away.login(key_id, key)
        assert risky["risk"]["level"] == "high", risky["risk"]
        assert {"new_network", "failed_logins_account"} <= set(risky["risk"]["reasons"]), risky["risk"]
        assert risky["idle_timeout_ms"] < base_idle
        status = (await away.call("private/session.status"))["result"]
        assert status["step_up_required"] is True and status["network"] == "127.0.9.0/24"
        assert status["idle_timeout_ms"] < status["base_idle_timeout_ms"]
        refused = await order(away, "risky-1")
        assert refused["error"]["message"] == "mfa_required" and refused["error"]["data"]["reason"] == "step_up_for_risk"
        # Cancels are never gated: a risky session can always reduce exposure.
        assert "result" in await away.call("private/order.cancel_all", {})

        # 4. A burst of requests far above the account's own baseline crosses the kill threshold.
        assert "result" in await away.call("subscribe", {"channels": ["session"]})
        # The request that tips it over is not answered: session.terminated, then close 4002 (§3.7).
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(200):
                reply = await away.call("private/session.status")
                assert "result" in reply, reply
        assert closed.value.rcvd.code == 4002 and closed.value.rcvd.reason == "risk"
        notices = [m for m in away.notifications if m.get("method") == "session.terminated"]
        assert [n["params"]["reason"] for n in notices] == ["risk"]
    run(scenario())
    records = run_cli(data, "sessions", "list", "--account", account_id, "--all")["sessions"]
    assert any(r["end_reason"] == "risk" and r["network"] == "127.0.9.0/24" for r in records)


def test_step_up_lowers_risk_and_lets_a_risky_session_trade(risk_gateway, tmp_path):
    data = risk_gateway.data
    account_id, key_id, key = trader(data)
    enrolment, _ = enroll(data, account_id, str(tmp_path))
    totp = pyotp.parse_uri(enrolment["otpauth_uri"])

    async def scenario():
        home = await Client.connect(risk_gateway.url, risk_gateway.ca)
        await home.login(key_id, key)
        await home.close()
        for _ in range(3):
            bad = await Client.connect(risk_gateway.url, risk_gateway.ca)
            await bad.call("public/auth", bad.auth_params(key_id, Ed25519Key()))
            await bad.close()
        await asyncio.sleep(1.1)  # the key's own failed-login throttle (500 ms after 3 failures)
        away = await Client.connect(risk_gateway.url, risk_gateway.ca, local_addr=("127.0.23.5", 0))
        risky = await away.login(key_id, key)
        assert risky["risk"]["score"] >= 0.5
        assert (await order(away, "x-1"))["error"]["data"]["reason"] == "step_up_for_risk"
        verified = (await away.call("private/mfa.verify", {"code": totp.now()}))["result"]
        assert verified["assurance"] == "aal2" and verified["risk"]["score"] < risky["risk"]["score"]
        assert "result" in await order(away, "x-1")
        await away.close()
    run(scenario())


def test_sessions_are_recorded_listed_and_revoked_by_operators_within_a_second(mfa_gateway):
    data = mfa_gateway.data
    account_id, key_id, key = trader(data)

    async def scenario():
        client = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        session = await client.login(key_id, key)
        listed = run_cli(data, "sessions", "list", "--account", account_id)["sessions"]
        assert [s["session_id"] for s in listed] == [session["session_id"]]
        assert listed[0]["live"] is True and listed[0]["key_id"] == key_id and listed[0]["network"] == "127.0.0.0/24"
        started = time.monotonic()
        assert run_cli(data, "sessions", "revoke", session["session_id"]) == {"revoked": True}
        notice = await client.next_notification(lambda m: m.get("method") == "session.terminated", timeout=5)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.recv_json(timeout=5)
        elapsed = time.monotonic() - started
        assert notice["params"]["reason"] == "revoked" and closed.value.rcvd.code == 4002
        assert elapsed < 1.0, f"revocation took {elapsed:.2f} s"
        ended = run_cli(data, "sessions", "show", session["session_id"])
        assert ended["live"] is False and ended["end_reason"] == "revoked"
        assert run_cli(data, "sessions", "list", "--account", account_id)["sessions"] == []
    run(scenario())
    import subprocess
    again = subprocess.run([BINARY, "sessions", "revoke", "s_unknown", "--data", data], capture_output=True, text=True)
    assert again.returncode != 0 and "not found" in again.stderr


def test_session_revoke_by_the_account_closes_its_other_session_at_once(mfa_gateway):
    _, key_id, key = trader(mfa_gateway.data)

    async def scenario():
        victim = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        await victim.login(key_id, key)
        owner = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        await owner.login(key_id, key)
        listed = (await owner.call("private/session.list"))["result"]
        assert len(listed["sessions"]) == 2 and listed["current"] in [s["session_id"] for s in listed["sessions"]]
        started = time.monotonic()
        revoked = (await owner.call("private/session.revoke", {"session_id": "others"}))["result"]["revoked"]
        assert len(revoked) == 1
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(5):
                await victim.recv_json(timeout=5)
        assert closed.value.rcvd.code == 4002 and time.monotonic() - started < 1.0
        await owner.close()
    run(scenario())


def test_cancel_on_disconnect_is_called_off_by_a_resume_inside_the_grace_window(mfa_gateway):
    _, key_id, key = trader(mfa_gateway.data)

    async def scenario():
        watcher = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        await watcher.login(key_id, key)
        assert "result" in await watcher.call("subscribe", {"channels": ["session"]})

        first = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        session = await first.login(key_id, key, cancel_on_disconnect={"scope": "session", "grace_ms": 1500})
        kept = [(await order(first, f"keep-{i}", price="58000"))["result"]["order_id"] for i in range(2)]
        await first.close()
        await asyncio.sleep(0.3)
        # Reconnect inside the grace window and resume the same session.
        second = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        resumed = await second.login(key_id, key, resume={"session_id": session["session_id"], "last_private_seq": 0},
                                     cancel_on_disconnect={"scope": "session", "grace_ms": 1000})
        assert resumed["resumed"] is True and resumed["session_id"] == session["session_id"]
        await asyncio.sleep(1.8)
        for order_id in kept:
            assert (await second.call("private/order.status", {"order_id": order_id}))["result"]["status"] == "open"
        # The session scope covers orders from both connections; this time nobody resumes.
        later = (await order(second, "keep-2", price="58000"))["result"]["order_id"]
        await second.close()
        event = await watcher.next_notification(
            lambda m: channel_is("session")(m) and m["params"]["data"]["type"] == "cancel_on_disconnect", timeout=5)
        assert sorted(event["params"]["data"]["cancelled"]) == sorted(kept + [later])
        await watcher.close()
    run(scenario())


def test_resume_is_refused_for_another_key_or_an_unknown_session(mfa_gateway):
    _, key_id, key = trader(mfa_gateway.data)
    _, other_id, other_key = trader(mfa_gateway.data)

    async def scenario():
        owner = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        session = await owner.login(key_id, key)
        thief = await Client.connect(mfa_gateway.url, mfa_gateway.ca)
        for target in (session["session_id"], "s_unknown"):
            reply = await thief.call("public/auth", thief.auth_params(other_id, other_key, resume={"session_id": target}))
            assert reply["error"]["message"] == "invalid_params" and reply["error"]["data"]["field"] == "params.resume.session_id"
        await owner.close()
        await thief.close()
    run(scenario())
