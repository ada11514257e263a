"""Session keys (X25519, optionally hybrid with ML-KEM-768) and sealed frames, driven by an
independent Python implementation (sealed.py: `cryptography` and `kyber-py`)."""
import asyncio

import pytest
import websockets

from bulwark_client import Client, b64u
from conftest import run_cli, provision_trader
from sealed import AEAD, MAC, KeyOffer, SealedSession, b64d, seal


def run(coro):
    return asyncio.run(coro)


def trader(data, sealed="none", scopes="read,trade"):
    return provision_trader(data, "k", "USD=1000000,BTC=10", scopes, key_options=("--sealed", sealed))


def identity(data):
    return b64d(run_cli(data, "identity")["ed25519"])


async def sealed_login(gateway, key_id, key, hybrid=True, mode=AEAD, client=None, **extra):
    client = client or await Client.connect(gateway.url, gateway.ca)
    offer = KeyOffer(hybrid=hybrid)
    signed_challenge = client.challenge
    result = await client.login(key_id, key, kx=offer, **extra)
    keys = offer.finish(result["kx"], signed_challenge, result["session_id"], identity(gateway.data))
    return client, SealedSession(client, keys, mode), result


async def expect_4005(session, frame, error):
    await session.client.ws.send(frame)
    reply = await session.recv_reply(None)
    assert reply["error"]["message"] == error, reply
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await session.client.recv_json(timeout=5)
    assert closed.value.rcvd.code == 4005


@pytest.mark.parametrize("hybrid", [True, False], ids=["x25519+mlkem768", "x25519"])
def test_sealed_requests_get_sealed_responses_in_both_modes(gateway, hybrid):
    _, key_id, key = trader(gateway.data)

    async def scenario():
        client, session, result = await sealed_login(gateway, key_id, key, hybrid=hybrid)
        assert ("mlkem768_ct" in result["kx"]) == hybrid
        status = await session.call("private/session.status")
        assert status["_sealed_mode"] == AEAD and status["result"]["session_id"] == result["session_id"]
        balances = await session.call("private/account.balances", mode=MAC)
        assert balances["_sealed_mode"] == MAC and "balances" in balances["result"]
        placed = await session.call("private/order.place", {"instrument": "BTC-USD", "side": "buy", "type": "limit",
                                                            "qty": "0.01", "price": "58000", "tif": "gtc", "client_order_id": "sealed-1"})
        assert placed["result"]["status"] == "open"
        # Public methods may be sealed too; plain text frames still work alongside.
        assert "server_time_ms" in (await session.call("public/time"))["result"]
        assert "result" in await client.call("private/session.status")
        assert session.send_seq == 5 and session.recv_seq == 5
        await client.close()
    run(scenario())


def test_the_key_policy_decides_which_frames_private_methods_need(gateway):
    _, aead_id, aead_key = trader(gateway.data, sealed="aead")
    _, mac_id, mac_key = trader(gateway.data, sealed="mac")

    async def scenario():
        client, session, _ = await sealed_login(gateway, aead_id, aead_key)
        assert (await client.call("private/orders.open"))["error"]["message"] == "sealed_required"
        refused = await session.call("private/orders.open", mode=MAC)
        assert refused["error"]["message"] == "sealed_required" and refused["_sealed_mode"] == MAC
        assert "orders" in (await session.call("private/orders.open", mode=AEAD))["result"]
        # Public methods stay open in plain text.
        assert "result" in await client.call("public/time")
        await client.close()

        client, session, _ = await sealed_login(gateway, mac_id, mac_key, mode=MAC)
        assert (await client.call("private/orders.open"))["error"]["message"] == "sealed_required"
        assert "orders" in (await session.call("private/orders.open", mode=MAC))["result"]
        assert "orders" in (await session.call("private/orders.open", mode=AEAD))["result"]
        await client.close()
    run(scenario())


def tampered(frame, index):
    flipped = bytearray(frame)
    flipped[index] ^= 0x01
    return bytes(flipped)


CASES = {
    # name: (build the bad frame from (session, valid next frame, other-session keys), expected error)
    "replay": (lambda s, f, o: "replay", "sequence_violation"),
    "reorder": (lambda s, f, o: s.frame({"jsonrpc": "2.0", "id": 99, "method": "public/time"}, seq=s.send_seq + 1), "sequence_violation"),
    "gap": (lambda s, f, o: s.frame({"jsonrpc": "2.0", "id": 99, "method": "public/time"}, seq=s.send_seq + 5), "sequence_violation"),
    "seq_zero": (lambda s, f, o: s.frame({"jsonrpc": "2.0", "id": 99, "method": "public/time"}, seq=0), "sequence_violation"),
    "flip_mode_bit": (lambda s, f, o: tampered(f, 0), "mac_invalid"),
    "flip_seq_bit": (lambda s, f, o: tampered(f, 8), "mac_invalid"),
    "flip_payload_bit": (lambda s, f, o: tampered(f, 12), "mac_invalid"),
    "flip_tag_bit": (lambda s, f, o: tampered(f, len(f) - 1), "mac_invalid"),
    "truncated": (lambda s, f, o: f[:-3], "mac_invalid"),
    "header_only": (lambda s, f, o: f[:9], "mac_invalid"),
    "other_direction_key": (lambda s, f, o: s.frame({"jsonrpc": "2.0", "id": 99, "method": "public/time"}, seq=s.send_seq, key=s.k_s2c), "mac_invalid"),
    "other_session_key": (lambda s, f, o: seal(o[0], AEAD, s.send_seq, b'{"jsonrpc":"2.0","id":99,"method":"public/time"}'), "mac_invalid"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sealed_frame_violations_get_their_error_and_close_4005(gateway, case):
    _, key_id, key = trader(gateway.data)
    build, error = CASES[case]

    async def scenario():
        client, session, _ = await sealed_login(gateway, key_id, key)
        _, other, _ = await sealed_login(gateway, key_id, key)
        first = session.frame({"jsonrpc": "2.0", "id": 1, "method": "public/time"})
        await client.ws.send(first)
        assert "result" in await session.recv_reply(1)
        session.client.next_id = 1
        valid_next = session.frame({"jsonrpc": "2.0", "id": 2, "method": "public/time"}, seq=session.send_seq)
        bad = first if case == "replay" else build(session, valid_next, (other.k_c2s, other.k_s2c))
        await expect_4005(session, bad, error)
        # The server keeps serving the other session.
        assert "result" in await other.call("private/session.status")
        await other.client.close()
    run(scenario())


def test_binary_frames_without_session_keys_close_4005(gateway):
    _, key_id, key = trader(gateway.data)

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        await client.login(key_id, key)
        session = SealedSession(client, (b"\0" * 32, b"\0" * 32))
        frame = session.frame({"jsonrpc": "2.0", "id": 1, "method": "public/time"})
        await client.ws.send(frame)
        reply = json_reply = await client.recv_json()
        assert json_reply["error"]["message"] == "mac_invalid" and reply["error"]["data"]["reason"] == "no_session_keys"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.recv_json(timeout=5)
        assert closed.value.rcvd.code == 4005
    run(scenario())


def test_relogin_in_place_renews_keys_and_a_login_without_kx_drops_them(gateway):
    _, key_id, key = trader(gateway.data)

    async def scenario():
        client, session, first = await sealed_login(gateway, key_id, key)
        assert "result" in await session.call("private/session.status")
        # A sealed re-login with new shares: answered under the old keys, then the new keys (seq 1).
        offer = KeyOffer(hybrid=True)
        signed_challenge = client.challenge
        reply = await session.call("public/auth", client.auth_params(key_id, key, kx=offer))
        assert reply["_sealed_mode"] == AEAD and reply["result"]["renewed"] is True
        assert reply["result"]["session_id"] == first["session_id"]
        client.challenge = reply["result"]["challenge"]
        renewed = SealedSession(client, offer.finish(reply["result"]["kx"], signed_challenge, first["session_id"], identity(gateway.data)))
        assert renewed.k_c2s != session.k_c2s
        assert (await renewed.call("private/session.status"))["result"]["session_id"] == first["session_id"]
        assert renewed.recv_seq == 2
        # A plain re-login without kx: the keys are gone, so a sealed frame is now a violation.
        await client.login(key_id, key)
        await client.ws.send(renewed.frame({"jsonrpc": "2.0", "id": 50, "method": "public/time"}))
        closing = await client.recv_json()
        assert closing["error"]["data"]["reason"] == "no_session_keys"
    run(scenario())


@pytest.mark.parametrize("kx,field,reason", [
    ({"x25519": b64u(b"\0" * 32)}, "params.kx.x25519", "invalid_key"),
    ({"x25519": b64u(b"\1" * 31)}, "params.kx.x25519", "expected_b64u_32_bytes"),
    ({"x25519": b64u(b"\5" * 32), "mlkem768": b64u(b"\1" * 100)}, "params.kx.mlkem768", "expected_b64u_1184_bytes"),
    ({"x25519": b64u(b"\5" * 32), "curve": "p256"}, "params.kx.curve", "unknown_member"),
])
def test_bad_key_shares_are_refused_before_any_session_exists(gateway, kx, field, reason):
    account_id, key_id, key = trader(gateway.data)

    class Fixed:
        def params(self):
            return kx

        def hash(self):
            import hashlib
            return b64u(hashlib.sha256(b64d(kx["x25519"]) + (b64d(kx["mlkem768"]) if "mlkem768" in kx else b"")).digest())

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        reply = await client.call("public/auth", client.auth_params(key_id, key, kx=Fixed()))
        assert reply["error"]["data"]["field"] == field and reply["error"]["data"]["reason"] == reason, reply
        await client.close()
    run(scenario())
    assert run_cli(gateway.data, "sessions", "list", "--account", account_id)["sessions"] == []


def test_substituted_key_shares_break_the_login_signature(gateway):
    _, key_id, key = trader(gateway.data)

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        honest, attacker = KeyOffer(hybrid=False), KeyOffer(hybrid=False)
        params = client.auth_params(key_id, key, kx=honest)
        params["kx"] = attacker.params()   # a man in the middle swaps in its own share
        assert (await client.call("public/auth", params))["error"]["message"] == "auth_failed"
        await client.close()
    run(scenario())
