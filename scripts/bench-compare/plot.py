#!/usr/bin/env python3
"""Draws the benchmark plots (PNG) from compare.py's results.json.

Usage: plot.py RESULTS_JSON OUT_DIR
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# The gateway first, then the peers in compare.py's order.
ORDER = ["bulwark", "websockets", "picows", "uwebsockets", "uwebsockets-pubsub"]


def family(result):
    return result.get("server", "?").rsplit("-", 1)[0]


def echo_throughput(results, out):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, tls in zip(axes, (False, True)):
        points = {}
        for r in results:
            if r.get("scenario") == "echo" and r.get("depth") == 1 and r.get("tls") == tls and "server" in r:
                points.setdefault(family(r), []).append((r["connections"], r["operations_per_s"]))
        for name, values in sorted(points.items(), key=lambda item: (ORDER + [item[0]]).index(item[0])):
            values.sort()
            ax.plot([c for c, _ in values], [v for _, v in values], marker="o", label=name)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("connections")
        ax.set_title(f"echo, 32 B, depth 1, {'wss' if tls else 'ws'}")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("messages / s")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "echo-throughput.png"), dpi=110)


def latency_percentiles(results, out):
    rows = []
    for r in results:
        latency = r.get("latency")
        if not latency or not latency.get("count"):
            continue
        if r.get("scenario") == "echo" and r.get("depth") == 1 and r.get("connections") == 8:
            rows.append((f"echo {r['server']}", latency))
        elif r.get("scenario") == "orders":
            rows.append((f"order place @{int(r.get('target_rate') or 0) or 'max'}/s", latency))
        elif r.get("scenario") == "logins":
            rows.append(("login (TLS+upgrade+Ed25519)", latency))
    if not rows:
        return
    labels = ["p50", "p90", "p99", "p99.9", "max"]
    keys = ["p50_us", "p90_us", "p99_us", "p99_9_us", "max_us"]
    fig, ax = plt.subplots(figsize=(11, 0.5 * len(rows) + 2.5))
    # Four server families over ws and wss plus the gateway-only rows are more lines than the
    # default ten-colour cycle: take twenty colours, and dash the wss lines.
    ax.set_prop_cycle(color=plt.cm.tab20.colors)
    for name, latency in rows:
        ax.plot(labels, [latency[k] for k in keys], marker="o", label=name, linestyle="--" if name.endswith("-wss") else "-")
    ax.set_yscale("log")
    ax.set_ylabel("latency (µs, log)")
    ax.set_title("latency percentiles")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency-percentiles.png"), dpi=110)


def fanout(results, out):
    groups = {}
    for r in results:
        if r.get("scenario") == "fanout" and "server" in r:
            groups.setdefault((r["connections"], r["tls"]), {})[family(r)] = r["operations_per_s"]
    if not groups:
        return
    keys = sorted(groups)
    present = {name for g in groups.values() for name in g}
    names = [name for name in ORDER if name in present] + sorted(present - set(ORDER))
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ax.bar([k + i * width for k in range(len(keys))], [groups[key].get(name, 0) for key in keys], width, label=name)
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(keys))])
    ax.set_xticklabels([f"{c} subscribers, {'wss' if tls else 'ws'}" for c, tls in keys])
    ax.set_ylabel("deliveries / s")
    ax.set_title("fan-out: one publisher, N subscribers")
    ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "fanout-deliveries.png"), dpi=110)


def main():
    results = json.load(open(sys.argv[1]))["results"]
    out = sys.argv[2]
    echo_throughput(results, out)
    latency_percentiles(results, out)
    fanout(results, out)
    print(f"plots written to {out}")


if __name__ == "__main__":
    main()
