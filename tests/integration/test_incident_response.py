"""Incident response over real sockets: the audit trail (verified offline, tampering pinpointed,
no secrets inside), kill switches, the IP block list, and detection rules with their automatic
responses and webhook alerts."""
import asyncio
import http.server
import json
import os
import secrets
import shutil
import sqlite3
import ssl
import subprocess
import threading
import time

import pyotp
import pytest
import websockets

from bulwark_client import Client, Ed25519Key
from conftest import BINARY, Gateway, run_cli, provision_trader, sqlite_only


def run(coro):
    return asyncio.run(coro)


def trader(data, fund="USD=1000000,BTC=10", scopes="read,trade"):
    return provision_trader(data, "i", fund, scopes)


def order(client, coid, price="58000", qty="0.01"):
    return client.call("private/order.place", {"instrument": "BTC-USD", "side": "buy", "type": "limit", "qty": qty,
                                               "price": price, "tif": "gtc", "client_order_id": coid})


def audit_verify(data):
    out = subprocess.run([BINARY, "audit", "verify", "--data", data, "--json"], capture_output=True, text=True, timeout=60)
    return out.returncode, json.loads(out.stdout)


def audit_export(data, raw=False):
    out = subprocess.run([BINARY, "audit", "export", "--data", data], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout if raw else [json.loads(line) for line in out.stdout.splitlines()]


async def refused_upgrade(server, ip, **kwargs):
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await websockets.connect(server.url, ssl=ssl.create_default_context(cafile=server.ca), local_addr=(ip, 0),
                                 open_timeout=10, **kwargs)
    response = refused.value.response
    return response.status_code, json.loads(response.body)


def test_audit_trail_records_what_happened_verifies_offline_and_holds_no_secrets(workdir):
    data = os.path.join(workdir, "audit")
    server = Gateway(data)
    account_id, key_id, key = trader(data)
    hmac = run_cli(data, "keys", "create", "--account", account_id, "--type", "hmac-sha256", "--scopes", "read")
    enrolment = run_cli(data, "mfa", "enroll", "--account", account_id)
    totp = pyotp.parse_uri(enrolment["otpauth_uri"])
    secrets_seen = {"hmac secret": hmac["secret"], "totp seed": enrolment["secret"]}

    async def scenario():
        client = await Client.connect(server.url, server.ca)
        reply = await client.call("public/auth", client.auth_params(key_id, Ed25519Key()))   # a failed login
        assert reply["error"]["message"] == "auth_failed"
        session = await client.login(key_id, key)
        secrets_seen["session id"] = session["session_id"]
        code = totp.now()
        secrets_seen["totp code"] = code
        assert (await client.call("private/mfa.verify", {"code": code}))["result"]["assurance"] == "aal2"
        secrets_seen["recovery code"] = enrolment["recovery_codes"][0]
        placed = (await order(client, "audited-1"))["result"]
        await client.call("private/order.cancel", {"order_id": placed["order_id"]})
        # A hostile member name lands in the audit trail (as the rejected field), escaped.
        hostile = "x\n2026-01-01 FAKE admin login ok\u001b[31m"
        injected = await client.call("private/orders.open", {hostile: 1})
        assert injected["error"]["data"]["field"] == "params." + hostile
        bad = await client.call("private/order.place", {"instrument": "BTC-USD", "side": "buy", "type": "limit", "qty": "0.01",
                                                        "price": "58000", "tif": "gtc", "client_order_id": "x", "account_id": "a_other"})
        assert bad["error"]["data"]["field"] == "params.account_id"
        await client.call("private/logout", {"cancel_orders": True})
    run(scenario())
    assert server.stop() == 0

    code, summary = audit_verify(data)
    assert code == 0 and summary["ok"] is True and summary["records"] > 10 and summary["checkpoints"] >= 1, summary
    # Long operations report progress on standard error when asked (or on a terminal), and standard
    # output stays one JSON object.
    out = subprocess.run([BINARY, "audit", "verify", "--data", data, "--json", "--progress"], capture_output=True, text=True, timeout=60)
    total = summary["records"]
    assert json.loads(out.stdout) == summary
    assert out.stderr.strip().splitlines()[-1] == f"records checked: {total}/{total} (100 %) done", out.stderr
    exported = os.path.join(workdir, "audit-export.jsonl")
    out = subprocess.run([BINARY, "audit", "export", "--data", data, "--out", exported, "--progress"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and f"records exported: {total}/{total} (100 %) done" in out.stderr, out.stderr
    assert len(open(exported).read().splitlines()) == total
    records = audit_export(data)
    events = {(r["event"], r["outcome"]) for r in records}
    for expected in [("auth.login", "failure"), ("auth.login", "success"), ("session.started", "success"),
                     ("mfa.verify", "success"), ("order.open", "success"), ("order.cancelled", "success"),
                     ("request.rejected", "failure"), ("session.ended", "info"), ("cli.key.create", "success"),
                     ("cli.mfa.enroll", "success"), ("gateway.started", "info"), ("gateway.stopped", "info"),
                     ("audit.checkpoint", "info")]:
        assert expected in events, expected
    assert all(r["ts_us"] > 1_700_000_000_000_000 for r in records)
    login = next(r for r in records if r["event"] == "auth.login" and r["outcome"] == "success")
    assert login["actor"] == account_id and login["credential"] == key_id and login["ip"] == "127.0.0.1"
    assert len(login["session_hash"]) == 12
    # No secret, code, token or session id in the audit trail or the server's log.
    export_text = "\n".join(json.dumps(r) for r in records)
    log_text = open(server.log_path).read()
    for name, value in secrets_seen.items():
        assert value not in export_text, f"{name} leaked into the audit trail"
        assert value not in log_text, f"{name} leaked into the log"
    # Log injection: the hostile field is in the trail, but one record is still exactly one line,
    # with no raw newline or terminal escape anywhere.
    raw = audit_export(data, raw=True)
    assert any(r["details"].get("field", "").startswith("params.x\n2026-01-01 FAKE") for r in records)
    assert len(raw.splitlines()) == len(records) and "\u001b" not in raw and "\u001b" not in log_text
    assert "\n2026-01-01 FAKE" not in log_text


def tamper(data, statement, *args):
    """Applies one change to a copy of the database; returns the copy's data folder."""
    copy = data + "-tampered-" + secrets.token_hex(3)
    shutil.copytree(data, copy)
    database = sqlite3.connect(os.path.join(copy, "bulwark.sqlite"))
    database.execute(statement, args)
    database.commit()
    database.close()
    return copy


@sqlite_only
def test_audit_verify_names_the_first_bad_record(workdir):
    data = os.path.join(workdir, "audit")   # written by the test above (same module order)
    if not os.path.exists(data):
        pytest.skip("needs the audit trail of the previous test")
    records = audit_export(data)
    middle = records[len(records) // 2]["seq"]
    # One changed byte in one record (the first character of its actor).
    flipped = tamper(data, "UPDATE audit_log SET actor = CASE WHEN substr(actor, 1, 1) = 'a' THEN 'b' ELSE 'a' END "
                           "|| substr(actor, 2) WHERE seq = ?", middle)
    code, summary = audit_verify(flipped)
    assert code == 1 and summary["first_bad_seq"] == middle and "altered" in summary["problem"]
    # A deleted record.
    deleted = tamper(data, "DELETE FROM audit_log WHERE seq = ?", middle)
    code, summary = audit_verify(deleted)
    assert code == 1 and summary["first_bad_seq"] == middle and "missing" in summary["problem"]
    # A reordered pair: two records' contents swapped in place.
    database = sqlite3.connect(os.path.join(data, "bulwark.sqlite"))
    columns = "ts_us, event, actor, credential, session_hash, ip, outcome, details, prev_hash, hash"
    first = database.execute(f"SELECT {columns} FROM audit_log WHERE seq = ?", (middle,)).fetchone()
    second = database.execute(f"SELECT {columns} FROM audit_log WHERE seq = ?", (middle + 1,)).fetchone()
    database.close()
    assignments = ", ".join(f"{c.strip()} = ?" for c in columns.split(","))
    swapped = tamper(data, f"UPDATE audit_log SET {assignments} WHERE seq = ?", *second, middle)
    database = sqlite3.connect(os.path.join(swapped, "bulwark.sqlite"))
    database.execute(f"UPDATE audit_log SET {assignments} WHERE seq = ?", (*first, middle + 1))
    database.commit()
    database.close()
    code, summary = audit_verify(swapped)
    assert code == 1 and summary["first_bad_seq"] == middle
    # The untouched original still verifies.
    assert audit_verify(data)[0] == 0


def test_kill_switch_cancels_ends_sessions_with_4003_blocks_orders_until_released(gateway):
    data = gateway.data
    account_id, key_id, key = trader(data)
    _, other_id, other_key = trader(data)

    async def scenario():
        client = await Client.connect(gateway.url, gateway.ca)
        await client.login(key_id, key)
        resting = [(await order(client, f"ks-{i}"))["result"]["order_id"] for i in range(3)]
        bystander = await Client.connect(gateway.url, gateway.ca)
        await bystander.login(other_id, other_key)
        started = time.monotonic()
        engaged = run_cli(data, "kill-switch", "engage", "--account", account_id, "--reason", "compromised key")
        assert engaged["scope"] == "account" and engaged["active"] is True
        notice = await client.next_notification(lambda m: m.get("method") == "session.terminated", timeout=5)
        assert notice["params"]["reason"] == "kill_switch"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.recv_json(timeout=5)
        assert closed.value.rcvd.code == 4003 and time.monotonic() - started < 1.5
        # Orders are cancelled and new ones refused, even from a new session.
        again = await Client.connect(gateway.url, gateway.ca)
        await again.login(key_id, key)
        for order_id in resting:
            status = (await again.call("private/order.status", {"order_id": order_id}))["result"]
            assert status["status"] == "cancelled" and status["cancel_reason"] == "kill_switch"
        refused = (await order(again, "ks-new"))["error"]
        assert refused["message"] == "trading_halted" and refused["data"]["reason"] == "kill_switch"
        # Another account trades on.
        assert "result" in await order(bystander, "bystander-1")
        # Only an operator re-enables it.
        run_cli(data, "kill-switch", "release", "--account", account_id)
        await asyncio.sleep(0.6)
        assert "result" in await order(again, "ks-after")
        assert run_cli(data, "kill-switch", "list")["kill_switches"] == []
        await again.close()
        await bystander.close()
    run(scenario())
    events = {r["event"] for r in json.loads("[" + ",".join(
        subprocess.run([BINARY, "audit", "search", "--data", data, "--event", "*killswitch*", "--limit", "20"],
                       capture_output=True, text=True).stdout.splitlines()) + "]")}
    assert {"cli.killswitch.engage", "killswitch.enforced", "cli.killswitch.release"} <= events


def test_global_kill_switch_halts_everyone(workdir):
    server = Gateway(os.path.join(workdir, "global-kill"))
    _, key_id, key = trader(server.data)

    async def scenario():
        run_cli(server.data, "kill-switch", "engage", "--global", "--reason", "exchange incident")
        await asyncio.sleep(0.6)
        client = await Client.connect(server.url, server.ca)
        await client.login(key_id, key)
        assert (await order(client, "g-1"))["error"]["message"] == "trading_halted"
        # Cancels and reads still work: clients can always reduce exposure.
        assert "result" in await client.call("private/orders.open")
        run_cli(server.data, "kill-switch", "release", "--global")
        await asyncio.sleep(0.6)
        assert "result" in await order(client, "g-2")
        await client.close()
    try:
        run(scenario())
    finally:
        assert server.stop() == 0


def test_ip_block_refuses_the_upgrade_and_closes_live_connections(gateway):
    _, key_id, key = trader(gateway.data)

    async def scenario():
        live = await Client.connect(gateway.url, gateway.ca, local_addr=("127.0.7.7", 0))
        await live.login(key_id, key)
        run_cli(gateway.data, "ip-block", "add", "127.0.7.0/24", "--for-seconds", "600", "--reason", "test")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(10):
                await live.recv_json(timeout=5)
        assert closed.value.rcvd.code == 1008
        status, body = await refused_upgrade(gateway, "127.0.7.8")
        assert status == 403 and body["error"] == "ip_blocked"
        # Other addresses are served.
        other = await Client.connect(gateway.url, gateway.ca, local_addr=("127.0.6.1", 0))
        await other.close()
        assert [b["cidr"] for b in run_cli(gateway.data, "ip-block", "list")["ip_blocks"]] == ["127.0.7.0/24"]
        run_cli(gateway.data, "ip-block", "remove", "127.0.7.0/24")
        await asyncio.sleep(0.6)
        back = await Client.connect(gateway.url, gateway.ca, local_addr=("127.0.7.8", 0))
        await back.close()
    run(scenario())


class Webhook(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Webhook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def alerting(workdir):
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    server = Gateway(os.path.join(workdir, "alerting"), extra_env={
        "BULWARK_ALERTS_WEBHOOK_URL": f"http://127.0.0.1:{hook.server_address[1]}/alerts",
        "BULWARK_AUTH_THROTTLE_IP_FREE_FAILURES": "1000", "BULWARK_DETECT_AUTO_BLOCK_MS": "600000",
        "BULWARK_WS_ALLOWED_ORIGINS": "https://app.example"})
    yield server
    server.stop()
    hook.shutdown()


def test_credential_stuffing_blocks_the_address_and_alerts_the_webhook(alerting):
    _, key_id, key = trader(alerting.data)

    async def scenario():
        innocent = await Client.connect(alerting.url, alerting.ca)
        await innocent.login(key_id, key)
        attacker = "127.0.8.8"
        for i in range(10):
            client = await Client.connect(alerting.url, alerting.ca, local_addr=(attacker, 0))
            try:
                reply = await client.call("public/auth", client.auth_params(f"k_stolen{i:04d}", Ed25519Key()))
                assert reply["error"]["message"] == "auth_failed"
            except websockets.ConnectionClosed as closed:
                # The tenth failure trips the rule: the block closes the attacker's connections
                # (1008), this one too, and on PostgreSQL (LISTEN/NOTIFY) that can beat its reply.
                assert i == 9 and closed.rcvd and closed.rcvd.code == 1008, closed
            await client.close()
        await asyncio.sleep(0.3)
        status, body = await refused_upgrade(alerting, attacker)
        assert status == 403 and body["error"] == "ip_blocked"
        # The innocent client, from another address, is unaffected.
        assert "result" in await innocent.call("private/session.status")
        for _ in range(50):
            if any(a["rule"] == "credential_stuffing" for a in Webhook.received):
                break
            await asyncio.sleep(0.1)
        alert = next(a for a in Webhook.received if a["rule"] == "credential_stuffing")
        assert alert["severity"] == "high" and alert["subject"] == attacker and alert["response"].startswith("blocked_ip_for_")
        await innocent.close()
    run(scenario())
    blocks = run_cli(alerting.data, "ip-block", "list")["ip_blocks"]
    assert any(b["cidr"] == "127.0.8.8/32" and b["created_by"] == "system" for b in blocks)


def test_origin_probing_is_blocked_and_normal_traffic_raises_nothing(alerting):
    before = len(Webhook.received)
    _, key_id, key = trader(alerting.data)

    async def scenario():
        # Normal traffic: logins, orders, one wrong signature.
        for i in range(3):
            client = await Client.connect(alerting.url, alerting.ca, local_addr=("127.0.9.20", 0))
            await client.login(key_id, key)
            await client.close()
        assert len(Webhook.received) == before
        for _ in range(5):
            status, body = await refused_upgrade(alerting, "127.0.8.9", origin="https://evil.example")
            assert status == 403 and body["error"] == "origin_not_allowed"
        await asyncio.sleep(0.3)
        status, body = await refused_upgrade(alerting, "127.0.8.9")
        assert status == 403 and body["error"] == "ip_blocked"
    run(scenario())
    assert any(a["rule"] == "origin_failures" for a in Webhook.received[before:])


def test_json_logs_and_security_metrics(workdir):
    server = Gateway(os.path.join(workdir, "json-logs"), extra_env={"BULWARK_LOG_FORMAT": "json", "BULWARK_METRICS_PUBLIC": "true"})
    account_id, key_id, key = trader(server.data)

    async def scenario():
        client = await Client.connect(server.url, server.ca)
        await client.call("public/auth", client.auth_params(key_id, Ed25519Key()))
        await client.login(key_id, key)
        other = await Client.connect(server.url, server.ca)
        await other.login(key_id, key)
        # Every live session of the account, revoked from the CLI in one go.
        assert run_cli(server.data, "sessions", "revoke", "--account", account_id) == {"revoked": 2}
        for victim in (client, other):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                for _ in range(10):
                    await victim.recv_json(timeout=5)
            assert closed.value.rcvd.code == 4002
    run(scenario())
    import urllib.request
    metrics = urllib.request.urlopen(server.url.replace("wss://", "https://").replace("/ws/v1", "/metrics"),
                                     context=ssl.create_default_context(cafile=server.ca)).read().decode()
    assert 'bulwark_login_failures_by_reason_total{reason="auth_failed"} 1' in metrics
    assert 'bulwark_sessions{risk_level="low"}' in metrics and "bulwark_audit_lag_ms" in metrics
    assert "bulwark_kill_switches_engaged 0" in metrics
    assert server.stop() == 0
    lines = [line for line in open(server.log_path).read().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records and all({"ts", "level", "label", "message"} <= set(r) for r in records)
    assert any(r["message"] == "login failed" and r["metadata"]["code"] == "auth_failed" for r in records)
