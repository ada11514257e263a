#!/usr/bin/env python3
"""Runs Bulwark and peer WebSocket servers under the same load tool (`bulwark bench`) in one
invocation and reports ratios. See docs/benchmarks.md.

Servers: the Bulwark gateway (full pipeline: TLS, RFC 6455 rules, JSON-RPC validation, rate
limits, sessions, risk, matching, audit), and peers that speak the same message shapes with no
security work at all (peers/): on the Python `websockets` and `picows` libraries, and on
uWebSockets (peers/uws_peer.c, compiled here with gcc against the uWebSockets + uSockets library
that the PyPI package `socketify` ships prebuilt; skipped with a message if it cannot be built).

The load tool and each server are pinned to different cores (taskset) so that a server's
numbers are per core and the load tool does not steal its CPU.
"""
import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

# The benchmark gateway: conformance echo on, per-IP and per-connection limits raised (every
# connection comes from 127.0.0.1), everything else at its defaults.
GATEWAY_ENV = {
    "BULWARK_WS_CONFORMANCE_ECHO": "true",
    "BULWARK_RATE_IP_HANDSHAKES": "1000000/s",
    "BULWARK_RATE_IP_CONNECTIONS": "1000000/s",
    "BULWARK_RATE_IP_MAX_CONNECTIONS": "1000000",
    "BULWARK_RATE_GLOBAL_CONNECTIONS": "1000000/s",
    "BULWARK_RATE_GLOBAL_MAX_CONNECTIONS": "1000000",
    "BULWARK_RATE_IP_LOGINS": "1000000/s",
    "BULWARK_RATE_CONNECTION_MESSAGES": "1000000/s",
    "BULWARK_RATE_CONNECTION_SUBSCRIBES": "1000000/s",
    "BULWARK_RATE_TIER_MARKET_MAKER_WEIGHT": "1000000/s",
    "BULWARK_RATE_TIER_MARKET_MAKER_ORDERS": "1000000/s",
    "BULWARK_RATE_TIER_MARKET_MAKER_CANCELS": "1000000/s",
}

SERVER_CPU, LOAD_CPU = "1", "0"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_file(path, process, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start within {timeout} s")
        time.sleep(0.05)
    return open(path).read().split()[0]


class Server:
    """One server process under test, pinned to the server core."""

    def __init__(self, name, command, env, workdir, tls_ca=None, data=None):
        self.name, self.tls_ca, self.data = name, tls_ca, data
        self.fanout_only = False
        ready = os.path.join(workdir, f"ready-{name}")
        self.log = open(os.path.join(workdir, f"{name}.log"), "w")
        self.process = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *command(ready)], stdout=self.log, stderr=subprocess.STDOUT,
            # BULWARK_BIN names the binary for this script; the gateway refuses unknown BULWARK_ variables.
            env={**{k: v for k, v in os.environ.items() if k != "BULWARK_BIN"}, **env}, start_new_session=True)
        self.address = wait_for_file(ready, self.process, name)

    @property
    def url(self):
        return ("wss://" if self.tls_ca else "ws://") + self.address

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def bench(binary, server, scenario, out_dir, label, **options):
    """Runs `bulwark bench` once (pinned to the load core) and returns its JSON result."""
    output = os.path.join(out_dir, f"{label}.json")
    command = ["taskset", "-c", LOAD_CPU, binary, "bench", "--scenario", scenario, "--url", server.url,
               "--server-pid", str(server.process.pid), "--output", output]
    if server.tls_ca:
        command += ["--ca", server.tls_ca]
    if server.data:
        command += ["--data", server.data]
    for key, value in options.items():
        command += ["--" + key.replace("_", "-"), str(value)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    line = (completed.stdout.strip().splitlines() or [completed.stderr.strip()])[-1]
    print(f"  {label}: {line}", flush=True)
    if completed.returncode != 0 or not os.path.exists(output):
        return {"scenario": scenario, "operations_per_s": 0, "failures": 1, "failure_samples": [completed.stderr.strip()[-300:]]}
    result = json.load(open(output))
    result["server"] = server.name
    return result


PEERS = ("websockets", "picows", "uwebsockets", "uwebsockets-pubsub")
FANOUT_ONLY = {"uwebsockets-pubsub"}


def build_uws_peer():
    """Compiles peers/uws_peer.c with gcc against socketify's prebuilt uWebSockets library into
    .venv-bench/uws-peer/. Returns (binary, description) or (None, why it was skipped)."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower(), platform.machine())
    library_name = f"libsocketify_{platform.system().lower()}_{arch}.so"
    spec = importlib.util.find_spec("socketify")
    if spec is None or not spec.submodule_search_locations:
        return None, "the socketify package is not installed in this venv (requirements.txt)"
    library_dir = os.path.realpath(list(spec.submodule_search_locations)[0])
    if not os.path.exists(os.path.join(library_dir, library_name)):
        return None, f"socketify ships no {library_name} for this platform"
    compiler = shutil.which(os.environ.get("CC", "gcc"))
    if not compiler:
        return None, "no C compiler (gcc) found"
    out_dir = os.path.join(sys.prefix, "uws-peer")
    os.makedirs(out_dir, exist_ok=True)
    binary = os.path.join(out_dir, "uws_peer")
    command = [compiler, "-O2", "-std=c11", "-Wall", "-o", binary, os.path.join(HERE, "peers", "uws_peer.c"),
               f"-L{library_dir}", f"-l:{library_name}", f"-Wl,-rpath,{library_dir}"]
    completed = subprocess.run(command, capture_output=True, text=True)
    if completed.returncode != 0:
        hint = " (the library needs libuv: apt-get install libuv1)" if "libuv" in completed.stderr else ""
        return None, f"gcc failed{hint}: {completed.stderr.strip()[-400:]}"
    missing = [line.split()[0] for line in subprocess.run(["ldd", binary], capture_output=True, text=True).stdout.splitlines() if "not found" in line]
    if missing:
        return None, f"libraries not found at run time: {', '.join(missing)} (libuv: apt-get install libuv1)"
    version = importlib.metadata.version("socketify")
    return binary, f"uWebSockets + uSockets (libuv) + BoringSSL from socketify {version} ({library_name}), peers/uws_peer.c built with {os.path.basename(compiler)} -O2"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.environ.get("BULWARK_BIN"), help="bulwark binary (default: a release build)")
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks"))
    parser.add_argument("--echo-connections", default="1,8,64,256")
    parser.add_argument("--fanout-subscribers", default="100,1000")
    parser.add_argument("--idle-connections", type=int, default=10000)
    parser.add_argument("--peers", default=",".join(PEERS), help=f"peer servers to run, comma-separated (default: {','.join(PEERS)})")
    parser.add_argument("--quick", action="store_true", help="one short point per scenario (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.echo_connections, args.fanout_subscribers, args.idle_connections = 2, 0.5, "8", "50", 200
    selected = [p for p in args.peers.split(",") if p]
    unknown = set(selected) - set(PEERS)
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))} (known: {', '.join(PEERS)})")
    peer_info = {}
    binary = args.bin
    if not binary:
        subprocess.run(["swift", "build", "-c", "release", "--product", "bulwark"], cwd=ROOT, check=True)
        binary = os.path.join(subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip(), "bulwark")
    python = sys.executable
    os.makedirs(args.out, exist_ok=True)
    raw_dir = os.path.join(args.out, "raw")
    shutil.rmtree(raw_dir, ignore_errors=True)
    os.makedirs(raw_dir)
    common = {"duration": args.duration, "warmup": args.warmup}
    results = []
    with tempfile.TemporaryDirectory(prefix="bulwark-bench-") as work:
        data = os.path.join(work, "data")
        gateway = lambda name, extra: Server(
            name, lambda ready: [binary, "serve", "--data", data, "--listen", "127.0.0.1:0", "--ready-file", ready, *extra],
            GATEWAY_ENV, work, tls_ca=None if extra else os.path.join(data, "tls", "ca.pem"), data=data)
        servers = []
        try:
            bulwark_tls = gateway("bulwark-wss", [])
            servers.append(bulwark_tls)
            cert, key = os.path.join(data, "tls", "server.pem"), os.path.join(data, "tls", "server-key.pem")
            peers = []
            uws = None  # (binary, description) once built
            for peer in selected:
                if peer.startswith("uwebsockets"):
                    uws = uws or build_uws_peer()
                    if not uws[0]:
                        peer_info[peer] = f"skipped: {uws[1]}"
                        print(f"{peer} peer skipped: {uws[1]}", flush=True)
                        continue
                    program = [uws[0]] + (["--fanout", "pubsub"] if peer == "uwebsockets-pubsub" else [])
                    peer_info[peer] = uws[1] + ("; fan-out through uWS pub/sub (uws_publish)" if peer == "uwebsockets-pubsub" else
                                                "; fan-out from our own subscriber lists (uws_ws_send to each)")
                else:
                    program = [python, os.path.join(HERE, "peers", f"{peer}_server.py")]
                    peer_info[peer] = f"{peer} {importlib.metadata.version(peer)} (peers/{peer}_server.py)"
                for tls in (False, True):
                    port = free_port()
                    extra = ["--cert", cert, "--key", key] if tls else []
                    name = f"{peer}-{'wss' if tls else 'ws'}"
                    start = lambda ready, program=program, port=port, extra=extra: [*program, "--port", str(port), "--ready-file", ready, *extra]
                    try:
                        server = Server(name, start, {}, work, tls_ca=os.path.join(data, "tls", "ca.pem") if tls else None)
                    except SystemExit as failure:
                        if not peer.startswith("uwebsockets"):
                            raise
                        log = open(os.path.join(work, f"{name}.log")).read().strip()[-300:]
                        print(f"{peer} peer skipped: {name} did not start ({failure}): {log}", flush=True)
                        peer_info[peer] = f"skipped: {name} did not start: {log}"
                        peers = [p for p in peers if p.name.rsplit("-", 1)[0] != peer]
                        break
                    # The pub/sub variant differs from `uwebsockets` only in fan-out: echo is not repeated.
                    server.fanout_only = peer in FANOUT_ONLY
                    servers.append(server)
                    peers.append(server)
            bulwark_plain = gateway("bulwark-ws", ["--insecure-plaintext"])
            servers.append(bulwark_plain)
            ours = {True: bulwark_tls, False: bulwark_plain}

            print("echo (messages/s, 32 B, depth 1)", flush=True)
            for tls in (False, True):
                for server in [ours[tls]] + [p for p in peers if bool(p.tls_ca) == tls and not p.fanout_only]:
                    for connections in [int(c) for c in args.echo_connections.split(",")]:
                        results.append(bench(binary, server, "echo", raw_dir, f"echo-{server.name}-{connections}", connections=connections, message_bytes=32, **common))
            print("echo (pipelined, depth 16, 64 connections)", flush=True)
            for server in [bulwark_plain, bulwark_tls] + [p for p in peers if not p.fanout_only]:
                results.append(bench(binary, server, "echo", raw_dir, f"echo-pipelined-{server.name}", connections=64, depth=16, message_bytes=32, **common))
            print("fan-out (deliveries/s)", flush=True)
            for tls in (False, True):
                for server in [ours[tls]] + [p for p in peers if bool(p.tls_ca) == tls]:
                    for subscribers in [int(c) for c in args.fanout_subscribers.split(",")]:
                        results.append(bench(binary, server, "fanout", raw_dir, f"fanout-{server.name}-{subscribers}", connections=subscribers, depth=8, **common))
            print("gateway only: order round trip, login storm, idle connections", flush=True)
            for rate in (1000, 5000):
                results.append(bench(binary, bulwark_tls, "orders", raw_dir, f"orders-{rate}", connections=4, depth=16, rate=rate, **common))
            results.append(bench(binary, bulwark_tls, "orders", raw_dir, "orders-max", connections=4, depth=16, rate=0, **common))
            results.append(bench(binary, bulwark_tls, "logins", raw_dir, "logins", connections=16, **common))
            results.append(bench(binary, bulwark_tls, "idle", raw_dir, f"idle-{args.idle_connections}", connections=args.idle_connections, duration=3, warmup=0, open_concurrency=16))
        finally:
            for server in servers:
                server.stop()
    summary = os.path.join(args.out, "results.json")
    with open(summary, "w") as f:
        json.dump({"machine": machine(), "peers": peer_info, "results": results}, f, indent=1, sort_keys=True)
    print_ratios(results)
    subprocess.run([python, os.path.join(HERE, "plot.py"), summary, args.out], check=False)


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown")
    memory = next((line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")), "0")
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory_gib": round(int(memory) / 1024 / 1024, 1)}


def print_ratios(results):
    """Bulwark's throughput divided by each peer's, for every echo and fan-out point."""
    def key(r):
        return (r.get("scenario"), r.get("connections"), r.get("depth"), r.get("tls"))
    by_key = {}
    for r in results:
        if r.get("scenario") in ("echo", "fanout") and "server" in r:
            by_key.setdefault(key(r), {})[r["server"].rsplit("-", 1)[0]] = r
    print("\nratios (bulwark / peer, throughput; >1 means bulwark is faster)")
    for k, group in sorted(by_key.items(), key=lambda item: tuple(str(x) for x in item[0])):
        ours = group.get("bulwark")
        if not ours:
            continue
        cells = [f"{name} {ours['operations_per_s'] / r['operations_per_s']:.2f}" for name, r in group.items() if name != "bulwark" and r.get("operations_per_s")]
        print(f"  {k[0]:6} conns {k[1]:>5} depth {k[2]} {'wss' if k[3] else 'ws '}: bulwark {ours['operations_per_s']:>9.0f}/s  " + "  ".join(cells))


if __name__ == "__main__":
    main()
