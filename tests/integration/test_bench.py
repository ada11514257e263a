"""Smoke test of `bulwark bench` (docs/benchmarks.md): every scenario runs for a moment against a
test gateway and reports numbers. Nothing here is timed: it only proves the load tool works."""
import json
import os
import subprocess

import pytest

from conftest import BINARY, Gateway

BENCH_ENV = {
    "BULWARK_WS_CONFORMANCE_ECHO": "true",
    "BULWARK_RATE_TIER_MARKET_MAKER_WEIGHT": "100000/s",
    "BULWARK_RATE_TIER_MARKET_MAKER_ORDERS": "100000/s",
    "BULWARK_RATE_TIER_MARKET_MAKER_CANCELS": "100000/s",
}


@pytest.fixture(scope="module")
def bench_gateway(workdir):
    server = Gateway(os.path.join(workdir, "bench-data"), extra_env=BENCH_ENV)
    yield server
    server.stop()


def run_bench(gateway, tmp_path, scenario, *options):
    output = tmp_path / f"{scenario}.json"
    address = gateway.url.split("/")[2]
    completed = subprocess.run(
        [BINARY, "bench", "--scenario", scenario, "--url", f"wss://{address}", "--ca", gateway.ca, "--data", gateway.data,
         "--server-pid", str(gateway.process.pid), "--duration", "1.5", "--warmup", "0.3", "--output", str(output), *options],
        capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    summary = completed.stdout.strip().splitlines()[-1]
    assert summary.startswith(scenario), summary
    result = json.loads(output.read_text())
    assert result["scenario"] == scenario and result["tls"] is True
    assert result["operations"] > 0 and result["operations_per_s"] > 0, result
    assert result["failures"] == 0, result["failure_samples"]
    return result


def test_echo(bench_gateway, tmp_path):
    result = run_bench(bench_gateway, tmp_path, "echo", "--connections", "4", "--depth", "4", "--message-bytes", "64")
    assert result["latency"]["count"] == result["operations"]
    assert 0 < result["latency"]["p50_us"] <= result["latency"]["p99_us"] <= result["latency"]["max_us"]
    assert result["server_cpu_seconds"] is not None


def test_fanout(bench_gateway, tmp_path):
    result = run_bench(bench_gateway, tmp_path, "fanout", "--connections", "5", "--rate", "100", "--depth", "4")
    # Every publication reaches every subscriber.
    assert result["publications"] > 0
    assert result["operations"] == result["publications"] * 5


def test_order_round_trip(bench_gateway, tmp_path):
    result = run_bench(bench_gateway, tmp_path, "orders", "--connections", "2", "--rate", "100", "--depth", "4")
    assert set(result["latencies"]) == {"place", "cancel"}
    assert result["latencies"]["cancel"]["count"] > 0


def test_login_storm(bench_gateway, tmp_path):
    result = run_bench(bench_gateway, tmp_path, "logins", "--connections", "2")
    assert result["latency"]["count"] == result["operations"]


def test_idle_connections(bench_gateway, tmp_path):
    result = run_bench(bench_gateway, tmp_path, "idle", "--connections", "20")
    assert result["operations"] == 20
    assert result["server_rss_bytes_after"] > 0 and "bytes_per_connection" in result
