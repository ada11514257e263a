#!/usr/bin/env python3
"""Prints the Markdown tables of docs/benchmarks.md from compare.py's results.json.

Usage: report.py RESULTS_JSON
"""
import json
import sys

PEERS = ["websockets", "picows", "uwebsockets", "uwebsockets-pubsub"]


def family(r):
    return r["server"].rsplit("-", 1)[0]


def rate(r):
    return f"{r['operations_per_s']:,.0f}" if r.get("operations_per_s") else "—"


def main():
    document = json.load(open(sys.argv[1]))
    results, machine = document["results"], document["machine"]
    print(f"Machine: {machine['nproc']} cores ({machine['cpu']}), {machine['memory_gib']} GiB.\n")
    for name, what in document.get("peers", {}).items():
        print(f"- {name}: {what}")
    # The peers with echo results in this run, in a fixed order (a run may have skipped one).
    present = {family(r) for r in results if r.get("scenario") == "echo" and "server" in r}
    peers = [p for p in PEERS if p in present] + sorted(present - set(PEERS) - {"bulwark"})
    servers = ["bulwark"] + peers

    print("\n**Echo**, 32-byte text messages, depth 1 (one message in flight per connection): messages/s, and the ratio bulwark / peer.\n")
    print("| transport | connections | " + " | ".join(servers) + " | " + " | ".join(f"bulwark/{p}" for p in peers) + " |")
    print("|---|---|" + "---|" * (len(servers) + len(peers)))
    echo = [r for r in results if r.get("scenario") == "echo" and "server" in r]
    for tls in (False, True):
        for connections in sorted({r["connections"] for r in echo if r.get("depth") == 1}):
            row = {family(r): r for r in echo if r["tls"] == tls and r["connections"] == connections and r.get("depth") == 1}
            if "bulwark" not in row:
                continue
            ours = row["bulwark"]["operations_per_s"]
            ratios = [f"{ours / row[p]['operations_per_s']:.2f}" if row.get(p, {}).get("operations_per_s") else "—" for p in servers[1:]]
            print(f"| {'wss' if tls else 'ws'} | {connections} | " + " | ".join(rate(row[s]) if s in row else "—" for s in servers) + " | " + " | ".join(ratios) + " |")

    print("\n**Echo, pipelined** (64 connections × 16 in flight): messages/s, server CPU per message (µs), p99 (ms).\n")
    print("| transport | server | messages/s | server CPU µs/msg | p99 ms |")
    print("|---|---|---|---|---|")
    for r in echo:
        if r.get("depth") == 16:
            print(f"| {'wss' if r['tls'] else 'ws'} | {family(r)} | {rate(r)} | {r.get('server_cpu_us_per_operation')} | {r['latency']['p99_us'] / 1000:.1f} |")

    print("\n**Fan-out**, one publisher, N subscribers on one channel: deliveries/s, the ratio bulwark / server, publications/s, server CPU per delivery, delivery latency p50/p99 (ms).\n")
    print("| transport | subscribers | server | deliveries/s | bulwark/server | publications/s | server CPU µs/delivery | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    fanout = [r for r in results if r.get("scenario") == "fanout" and "server" in r]
    ours = {(r["tls"], r["connections"]): r for r in fanout if family(r) == "bulwark"}
    for r in fanout:
        window = r["duration_s"]
        mine = ours.get((r["tls"], r["connections"]), {}).get("operations_per_s")
        ratio = f"{mine / r['operations_per_s']:.2f}" if mine and r.get("operations_per_s") and family(r) != "bulwark" else "—"
        print(f"| {'wss' if r['tls'] else 'ws'} | {r['connections']} | {family(r)} | {rate(r)} | {ratio} | {r.get('publications', 0) / window:,.0f} | "
              f"{r.get('server_cpu_us_per_operation')} | {r['latency']['p50_us'] / 1000:.1f} | {r['latency']['p99_us'] / 1000:.1f} |")

    print("\n**Gateway only** (wss, real Ed25519 keys, the full security stack).\n")
    print("| scenario | target | achieved | p50 | p99 | p99.9 | max | server CPU/op |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        if r.get("scenario") in ("orders", "logins") and "server" in r:
            latency = r["latency"]
            target = f"{r['target_rate']:,.0f}/s" if r.get("target_rate") else ("max" if r["scenario"] == "orders" else f"{r['connections']} workers")
            unit = "orders/s (place+cancel)" if r["scenario"] == "orders" else "logins/s"
            print(f"| {r['scenario']} | {target} | {rate(r)} {unit} | {latency['p50_us'] / 1000:.2f} ms | {latency['p99_us'] / 1000:.2f} ms | "
                  f"{latency['p99_9_us'] / 1000:.2f} ms | {latency['max_us'] / 1000:.2f} ms | {r.get('server_cpu_us_per_operation')} µs |")
    for r in results:
        if r.get("scenario") == "idle" and "server" in r:
            print(f"\n**Idle** authenticated connections: {r['operations']:,} of {r['connections']:,} opened and logged in "
                  f"({r['operations_per_s']:,.0f}/s); server RSS {r.get('server_rss_bytes_before', 0) / 2**20:.0f} MiB → "
                  f"{r.get('server_rss_bytes_after', 0) / 2**20:.0f} MiB: **{r.get('bytes_per_connection', 0):,} bytes per connection**"
                  f"{'; ' + str(r['failures']) + ' failures' if r.get('failures') else ''}.")


if __name__ == "__main__":
    main()
