"""ASVS 5.0 V16.4.1 (log injection): a newline and an ANSI escape in every string field a client
controls, then the server's log and the audit trail are checked: one record per line, no raw
control characters, the forged line never starts a line."""
import json
import subprocess
import time

import conftest
from attack import connect, limit_order, logged_in, run, trader

FORGED = "2026-01-01T00:00:00Z ALERT admin login ok"
HOSTILE = "x\n" + FORGED + "\u001b[31m\r\u2028"


def every_string_field(who):
    """(method, params, authenticated) triples with the hostile string in one field each."""
    order = limit_order("inj-1")
    cases = [("public/time", {"note": HOSTILE}, False)]
    for field in ("instrument", "side", "type", "tif", "client_order_id", "qty", "price"):
        cases.append(("private/order.place", dict(order, **{field: HOSTILE}), True))
    cases += [("private/order.place", dict(order, **{HOSTILE: 1}), True),
              ("private/order.cancel", {"order_id": HOSTILE}, True),
              ("private/order.cancel", {"client_order_id": HOSTILE}, True),
              ("private/order.status", {"order_id": HOSTILE}, True),
              ("private/order.cancel_all", {"instrument": HOSTILE}, True),
              ("private/session.revoke", {"session_id": HOSTILE}, True),
              ("private/mfa.verify", {"code": HOSTILE}, True),
              ("subscribe", {"channels": [HOSTILE, "trades." + HOSTILE]}, False),
              ("unsubscribe", {"channels": [HOSTILE]}, False),
              (HOSTILE, None, False),
              ("public/auth", {"grant_type": HOSTILE}, False),
              ("public/auth", {"grant_type": "signature", "key_id": HOSTILE, "timestamp_ms": 1, "nonce": HOSTILE,
                               "signature": HOSTILE}, False),
              ("public/auth", {"grant_type": "bearer", "access_token": HOSTILE + "." + HOSTILE + "." + HOSTILE}, False)]
    return cases


def test_c98_log_injection_in_every_string_field_is_refused_and_encoded(target):
    who = trader(target)
    cases = every_string_field(who)

    async def scenario():
        anonymous = await connect(target)
        client = await logged_in(target, who)
        for method, params, authenticated in cases:
            reply = await (client if authenticated else anonymous).call(method, params)
            # Refused, or (unsubscribing from a channel never subscribed) a no-op.
            assert "error" in reply or reply["result"] == {"channels": []}, (method, params, reply)
        # A string request id too.
        await anonymous.send_raw(json.dumps({"jsonrpc": "2.0", "id": HOSTILE[:60], "method": "public/nope"}))
        assert (await anonymous.recv_json())["error"]["message"] in ("method_not_found", "invalid_request")
        await anonymous.close()
        await client.close()
    run(scenario())

    log = target.output()
    assert "\u001b" not in log and "\r" not in log and "\u2028" not in log
    assert not any(line.startswith(FORGED) for line in log.splitlines())
    # The trail is appended every 100 ms: export until the hostile value shows up (bounded).
    deadline = time.monotonic() + 10
    while True:
        exported = subprocess.run([conftest.BINARY, "audit", "export", "--data", target.data],
                                  capture_output=True, text=True, timeout=60)
        assert exported.returncode == 0, exported.stderr
        lines = exported.stdout.splitlines()
        records = [json.loads(line) for line in lines]          # every line is one whole JSON record
        recorded = [v for r in records for v in r.get("details", {}).values() if isinstance(v, str) and HOSTILE in v]
        if recorded or time.monotonic() > deadline:
            break
    assert recorded, "the hostile value is in the trail (escaped inside its JSON record)"
    assert "\u001b" not in exported.stdout and not any(line.startswith(FORGED) for line in lines)
