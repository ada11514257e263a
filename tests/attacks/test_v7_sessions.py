"""ASVS 5.0 V7 (session management): fixation, revocation, expiry, logout (catalogue G71-G81)."""
import websockets

from attack import cli, close_code, connect, logged_in, run, trader


def test_g77_a_client_cannot_choose_its_session_id(target):
    who = trader(target)

    async def scenario():
        client = await connect(target)
        for member in ("session_id", "sid", "session"):
            reply = await client.call("public/auth", client.auth_params(who.key_id, who.key, **{member: "s_attacker_chosen"}))
            assert reply["error"]["message"] == "invalid_params" and reply["error"]["data"]["field"] == f"params.{member}", reply
        await client.close()
    run(scenario())


def test_g77_g81_every_login_issues_a_fresh_random_session_id(target):
    who = trader(target)

    async def scenario():
        ids = set()
        for _ in range(5):
            client = await logged_in(target, who)
            ids.add((await client.call("private/session.status"))["result"]["session_id"])
            await client.close()
        assert len(ids) == 5
        # G81: opaque ids with room for >= 128 random bits, never a counter.
        assert all(i.startswith("s_") and len(i) >= 24 for i in ids), ids
    run(scenario())


def test_g77_logging_in_as_another_key_on_the_same_connection_replaces_the_session(target):
    first, second = trader(target), trader(target)

    async def scenario():
        client = await connect(target)
        a = await client.login(first.key_id, first.key)
        b = await client.login(second.key_id, second.key)
        assert b["session_id"] != a["session_id"] and b["account_id"] == second.account_id
        status = (await client.call("private/session.status"))["result"]
        assert status["account_id"] == second.account_id and status["session_id"] == b["session_id"]
        await client.close()
    run(scenario())


def test_g77_resuming_another_keys_session_is_refused(target):
    owner, thief = trader(target), trader(target)

    async def scenario():
        victim = await logged_in(target, owner)
        session_id = (await victim.call("private/session.status"))["result"]["session_id"]
        attacker = await connect(target)
        reply = await attacker.call("public/auth", attacker.auth_params(thief.key_id, thief.key, resume={"session_id": session_id}))
        assert reply["error"]["message"] == "invalid_params" and reply["error"]["data"]["reason"] == "unknown_session", reply
        await victim.close()
        await attacker.close()
    run(scenario())


def test_g75_a_revoked_session_closes_4002_and_cannot_be_resumed(target):
    who = trader(target)

    async def scenario():
        client = await logged_in(target, who)
        session_id = (await client.call("private/session.status"))["result"]["session_id"]
        cli(target, "sessions", "revoke", session_id)
        notice = await client.next_notification(lambda m: m.get("method") == "session.terminated", timeout=10)
        assert notice["params"]["session_id"] == session_id and notice["params"]["reason"] == "revoked", notice
        assert await close_code(client) == 4002
        again = await connect(target)
        reply = await again.call("public/auth", again.auth_params(who.key_id, who.key, resume={"session_id": session_id}))
        assert reply["error"]["data"]["reason"] == "unknown_session", reply
        await again.close()
    run(scenario())


def test_g75_revoking_others_closes_the_accounts_other_sessions(target):
    who = trader(target)

    async def scenario():
        stolen = await logged_in(target, who)
        mine = await logged_in(target, who)
        revoked = (await mine.call("private/session.revoke", {"session_id": "others"}))["result"]["revoked"]
        assert len(revoked) == 1
        assert await close_code(stolen) == 4002
        assert "result" in await mine.call("private/orders.open")
        await mine.close()
    run(scenario())


def test_g75_after_logout_private_methods_are_unauthenticated(target):
    who = trader(target)

    async def scenario():
        client = await logged_in(target, who)
        result = await client.call("private/logout", {"cancel_orders": True})
        assert result["result"]["logged_out"] is True, result
        try:
            reply = await client.call("private/orders.open")
            assert reply["error"]["message"] == "unauthenticated", reply
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd.code == 1000
    run(scenario())


def test_g71_an_idle_session_expires_closes_4001_and_cannot_be_resumed(short_sessions):
    who = trader(short_sessions)

    async def scenario():
        client = await logged_in(short_sessions, who)
        session_id = (await client.call("private/session.status"))["result"]["session_id"]
        # Pings are not activity: the library answers the server's pings, the session still ends.
        notice = await client.next_notification(lambda m: m.get("method") == "session.terminated", timeout=40)
        assert notice["params"]["reason"] == "expired"
        assert await close_code(client) == 4001
        again = await connect(short_sessions)
        reply = await again.call("public/auth", again.auth_params(who.key_id, who.key, resume={"session_id": session_id}))
        assert reply["error"]["data"]["reason"] == "unknown_session", reply
        await again.close()
    run(scenario())
