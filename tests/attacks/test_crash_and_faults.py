"""Crash and fault tests (catalogue J101, J102, J105; ASVS 16.4.2, 16.5.3): kill -9 during an order
burst, a full disk under the database, and what survives each."""
import asyncio
import json
import os
import secrets
import signal
import stat
import subprocess

import pytest
import websockets

import conftest
from attack import assert_still_serving, limit_order, logged_in, run, trader


def audit_verify(data):
    out = subprocess.run([conftest.BINARY, "audit", "verify", "--data", data, "--json"], capture_output=True, text=True, timeout=120)
    return out.returncode, json.loads(out.stdout)


async def burst(server, who, count, acknowledged, kill_after=None):
    """Places `count` orders pipelined (16 in flight) and records every acknowledged order id;
    after `kill_after` acknowledgements the gateway is killed with SIGKILL mid-burst."""
    client = await logged_in(server, who)
    pending = {}
    sent = 0
    try:
        while sent < count or pending:
            while sent < count and len(pending) < 16:
                client.next_id += 1
                coid = f"burst-{sent}"
                await client.ws.send(json.dumps({"jsonrpc": "2.0", "id": client.next_id, "method": "private/order.place",
                                                 "params": limit_order(coid, price="58000")}))
                pending[client.next_id] = coid
                sent += 1
            reply = await client.recv_json(timeout=30)
            if reply.get("id") in pending:
                pending.pop(reply["id"])
                if "result" in reply:
                    acknowledged.append(reply["result"]["order_id"])
                    if kill_after is not None and len(acknowledged) == kill_after:
                        server.process.send_signal(signal.SIGKILL)
    except (websockets.ConnectionClosed, ConnectionError, asyncio.TimeoutError):
        pass


@pytest.fixture(scope="module")
def killed(workdir):
    """A gateway killed with SIGKILL after 150 acknowledged orders of a 400-order burst, then started
    again on the same data folder."""
    data = os.path.join(workdir, "kill9")
    server = conftest.Gateway(data)
    who = trader(server)
    acknowledged = []
    run(burst(server, who, 400, acknowledged, kill_after=150))
    server.process.wait(30)
    assert server.process.returncode == -signal.SIGKILL
    restarted = conftest.Gateway(data)
    yield restarted, who, acknowledged
    restarted.stop()


def test_j101_after_kill_9_mid_burst_the_audit_chain_verifies(killed):
    server, _, acknowledged = killed
    assert len(acknowledged) >= 150
    code, summary = audit_verify(server.data)
    assert code == 0 and summary["ok"] is True, summary


def test_after_kill_9_the_gateway_restarts_cleanly_and_serves(killed):
    server, who, _ = killed
    assert "listening" in server.output()
    assert_still_serving(server)

    async def scenario():
        client = await logged_in(server, who)
        assert "result" in await client.call("private/order.place", limit_order("after-restart-" + secrets.token_hex(3)))
        await client.call("private/order.cancel_all", {})
        await client.close()
    run(scenario())


def test_j101_every_acknowledged_order_survives_kill_9(killed):
    """The venue journal is fsynced before each acknowledgement and replayed at start."""
    server, who, acknowledged = killed

    async def scenario():
        client = await logged_in(server, who)
        missing = []
        for order_id in acknowledged:
            reply = await client.call("private/order.status", {"order_id": order_id})
            if "result" not in reply:
                missing.append(order_id)
        await client.close()
        return missing
    assert run(scenario()) == []


def limited_binary(directory, max_file_bytes):
    """A wrapper that starts the gateway with RLIMIT_FSIZE set and SIGXFSZ ignored: every write past
    `max_file_bytes` in any file fails with EFBIG, as on a full disk, and the process keeps running."""
    path = os.path.join(directory, "bulwark-small-disk")
    with open(path, "w") as wrapper:
        wrapper.write(f"#!/bin/sh\ntrap '' XFSZ\nulimit -f {max_file_bytes // 512}\nexec '{conftest.BINARY}' \"$@\"\n")
    os.chmod(path, stat.S_IRWXU)
    return path


def test_j102_disk_full_order_entry_fails_closed_cancels_still_work_then_recovers(workdir):
    data = os.path.join(workdir, "diskfull")
    first = conftest.Gateway(data)
    who = trader(first)
    assert first.stop() == 0
    database = os.path.join(data, "bulwark.sqlite")
    # Room for the start-up records and a few orders' audit records, then the "disk" is full.
    limit = max(os.path.getsize(database), 1 << 20) + (256 << 10)
    original = conftest._harness.BINARY
    conftest._harness.BINARY = limited_binary(workdir, limit)
    try:
        server = conftest.Gateway(data)
    finally:
        conftest._harness.BINARY = original

    async def scenario():
        client = await logged_in(server, who)
        placed, halted = [], None
        for i in range(5000):
            reply = await client.call("private/order.place", limit_order(f"fill-{i}", price="58000", qty="0.01"))
            if "result" in reply:
                placed.append(reply["result"]["order_id"])
                continue
            halted = reply["error"]
            break
        assert halted is not None, "the disk never filled up"
        again = await client.call("private/order.place", limit_order("after-full", price="58000", qty="0.01"))
        if halted["data"].get("reason") == "venue_stopped":
            # The order journal hit the full disk first: nothing un-journaled may be acknowledged, so
            # the venue refuses every state change (cancels too) until a restart; reads still work.
            assert halted["code"] == -32603 and again["error"]["data"]["reason"] == "venue_stopped", again
            assert "result" in await client.call("private/orders.open")
        else:
            # The audit trail hit it first: new orders fail closed, cancels (risk-reducing) and reads work.
            assert halted["code"] == 12007 and halted["message"] == "trading_halted" and \
                halted["data"]["reason"] == "audit_unavailable", halted
            assert again["error"]["data"]["reason"] == "audit_unavailable", again
            assert "result" in await client.call("private/orders.open")
            assert (await client.call("private/order.cancel", {"order_id": placed[-1]}))["result"]["status"] == "cancelled"
        await client.close()
    try:
        run(scenario())
        assert server.process.poll() is None
    finally:
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(30)
    # With room again, the gateway starts, the chain verifies and order entry works.
    restarted = conftest.Gateway(data)
    try:
        code, summary = audit_verify(data)
        assert code == 0 and summary["ok"] is True, summary
        assert_still_serving(restarted)
    finally:
        restarted.stop()
