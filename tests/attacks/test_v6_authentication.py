"""ASVS 5.0 V6 (authentication): login-signature negatives (catalogue D35-D44), TOTP replay and
brute force (H83-H85), uniform failures (H88)."""
import secrets
import time

import pyotp
import pytest

from attack import cli, close_code, connect, limit_order, logged_in, run, trader
from bulwark_client import Ed25519Key, P256Key, b64u


def login_reply(server, who, **overrides):
    async def scenario():
        client = await connect(server)
        params = client.auth_params(who.key_id, who.key, **{k: v for k, v in overrides.items() if k != "mutate"})
        if "mutate" in overrides:
            overrides["mutate"](params)
        reply = await client.call("public/auth", params)
        await client.close()
        return reply
    return run(scenario())


def test_d35_timestamp_31_seconds_old_is_out_of_window(target):
    reply = login_reply(target, trader(target), timestamp_ms=int(time.time() * 1000) - 31_000)
    assert reply["error"]["code"] == 10003 and reply["error"]["message"] == "timestamp_out_of_window", reply
    assert abs(reply["error"]["data"]["skew_ms"] + 31_000) < 5_000, reply


def test_d35_timestamp_6_seconds_ahead_is_out_of_window(target):
    reply = login_reply(target, trader(target), timestamp_ms=int(time.time() * 1000) + 6_000)
    assert reply["error"]["message"] == "timestamp_out_of_window", reply


def test_d36_login_frame_replayed_on_another_connection_fails(target):
    who = trader(target)

    async def scenario():
        first = await connect(target)
        params = first.auth_params(who.key_id, who.key)
        assert "result" in await first.call("public/auth", params)
        second = await connect(target)
        reply = await second.call("public/auth", params)
        assert reply["error"]["message"] == "auth_failed", reply
        await first.close()
        await second.close()
    run(scenario())


def test_d36_nonce_reused_with_a_fresh_challenge_is_replay_detected(target):
    who = trader(target)
    nonce = b64u(secrets.token_bytes(16))
    assert "result" in login_reply(target, who, nonce=nonce)
    reply = login_reply(target, who, nonce=nonce)
    assert reply["error"]["message"] == "replay_detected", reply


@pytest.mark.parametrize("case", ["other key", "widened scopes", "unknown key id", "truncated signature",
                                  "empty signature", "signature of another challenge"])
def test_d37_tampered_logins_all_fail_alike(target, case):
    who = trader(target, scopes="read")

    def mutate(params):
        if case == "widened scopes":
            params["scopes"] = ["read", "trade"]
        elif case == "unknown key id":
            params["key_id"] = "k_" + secrets.token_hex(8)
        elif case == "truncated signature":
            params["signature"] = params["signature"][:40]
        elif case == "empty signature":
            params["signature"] = ""
    overrides = {"mutate": mutate, "scopes": ["read"]}
    if case == "other key":
        reply = login_reply(target, type(who)(who.account_id, who.key_id, Ed25519Key()))
    elif case == "signature of another challenge":
        reply = login_reply(target, who, challenge=b64u(secrets.token_bytes(32)))
    else:
        reply = login_reply(target, who, **overrides)
    assert reply["error"]["code"] == 10002 and reply["error"]["message"] == "auth_failed", reply
    # Nothing in the answer tells the cases apart.
    assert set(reply["error"].get("data", {})) <= {"trace_id"}, reply


@pytest.mark.parametrize("member, value", [("alg", "HS256"), ("algorithm", "none"), ("key_type", "hmac-sha1")])
def test_d40_client_chosen_algorithm_is_refused(target, member, value):
    def mutate(params):
        params[member] = value
    reply = login_reply(target, trader(target), mutate=mutate)
    assert reply["error"]["message"] == "invalid_params" and reply["error"]["data"]["field"] == f"params.{member}", reply


def test_d41_revoked_key_fails_and_its_live_session_closes_4002(target):
    who = trader(target)

    async def scenario():
        client = await logged_in(target, who)
        cli(target, "keys", "revoke", who.key_id)
        assert await close_code(client) == 4002
    run(scenario())
    assert login_reply(target, who)["error"]["message"] == "auth_failed"


def test_d44_a_login_mints_a_session_not_a_reusable_credential(target):
    """The key signs one challenge; the session is bound to that connection (a second connection
    cannot borrow it by naming its session id)."""
    who = trader(target)

    async def scenario():
        owner = await logged_in(target, who)
        session_id = (await owner.call("private/session.status"))["result"]["session_id"]
        borrower = await connect(target)
        reply = await borrower.call("private/orders.open", {"session_id": session_id})
        assert reply["error"]["message"] in ("unauthenticated", "invalid_params"), reply
        await owner.close()
        await borrower.close()
    run(scenario())


# --- TOTP ----------------------------------------------------------------------------------------

def enrolled(server):
    who = trader(server)
    enrolment = cli(server, "mfa", "enroll", "--account", who.account_id)
    return who, pyotp.parse_uri(enrolment["otpauth_uri"])


def test_h83_the_same_totp_code_is_accepted_once_even_across_sessions(target):
    who, totp = enrolled(target)

    async def scenario():
        first = await logged_in(target, who)
        code = totp.now()
        assert (await first.call("private/mfa.verify", {"code": code}))["result"]["assurance"] == "aal2"
        replay = await first.call("private/mfa.verify", {"code": code})
        assert replay["error"]["code"] == 10009 and replay["error"]["message"] == "mfa_invalid", replay
        second = await logged_in(target, who)
        assert (await second.call("private/mfa.verify", {"code": code}))["error"]["message"] == "mfa_invalid"
        refused = await second.call("private/order.place", limit_order("stepup-1", qty="0.05"))
        assert refused["error"]["code"] == 10008 and refused["error"]["message"] == "mfa_required", refused
        await first.close()
        await second.close()
    run(scenario())


@pytest.mark.parametrize("steps", [-2, 2, -10, 10])
def test_h84_codes_two_or_more_steps_away_are_refused(target, steps):
    who, totp = enrolled(target)

    async def scenario():
        client = await logged_in(target, who)
        reply = await client.call("private/mfa.verify", {"code": totp.at(time.time() + steps * 30)})
        assert reply["error"]["message"] == "mfa_invalid", reply
        await client.close()
    run(scenario())


def test_h85_totp_brute_force_is_throttled_after_three_failures_even_for_the_right_code(target):
    who, totp = enrolled(target)
    wrong = f"{(int(totp.now()) + 500_000) % 1_000_000:06d}"

    async def scenario():
        client = await logged_in(target, who)
        for _ in range(3):
            assert (await client.call("private/mfa.verify", {"code": wrong}))["error"]["message"] == "mfa_invalid"
        # A fourth guess at once, a hundred more, and even the right code: all throttled, none tried.
        for code in [wrong] * 100 + [totp.now()]:
            reply = (await client.call("private/mfa.verify", {"code": code}))["error"]
            assert reply["code"] == 11001 and reply["data"]["bucket"] == "mfa" and reply["data"]["retry_after_ms"] > 0, reply
        # A second session of the account does not get a fresh allowance.
        other = await logged_in(target, who)
        reply = (await other.call("private/mfa.verify", {"code": wrong}))["error"]
        assert reply["message"] == "rate_limited", reply
        await client.close()
        await other.close()
    run(scenario())


@pytest.mark.parametrize("code", ["", "12345", "123456789", "12345a", "１２３４５６", "123456\n", " 123456"])
def test_h85_malformed_codes_are_refused_uniformly(target, code):
    who, _ = enrolled(target)

    async def scenario():
        client = await logged_in(target, who)
        reply = await client.call("private/mfa.verify", {"code": code})
        assert reply["error"]["message"] in ("mfa_invalid", "invalid_params"), reply
        await client.close()
    run(scenario())


def test_h88_unknown_key_wrong_signature_and_wrong_key_type_look_the_same(target):
    who = trader(target)
    answers = []
    for signer_key in (Ed25519Key(), P256Key()):
        answers.append(login_reply(target, type(who)(who.account_id, who.key_id, signer_key))["error"])
    answers.append(login_reply(target, type(who)(who.account_id, "k_" + secrets.token_hex(8), who.key))["error"])
    strip = lambda e: {k: v for k, v in e.items() if k != "data"}
    assert all(strip(a) == strip(answers[0]) for a in answers), answers
