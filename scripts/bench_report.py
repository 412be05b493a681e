#!/usr/bin/env python3
"""Markdown tables from the load generator's JSON lines, for scripts/bench.sh and bench-scale.sh.

  bench_report.py half-rate RESULTS TARGET SCENARIO   half the median closed-loop rate
  bench_report.py matrix RESULTS                      authd, peer, nginx and floor tables, open loop, ratios
  bench_report.py scale RESULTS                       few users against many
"""
import collections
import json
import statistics
import sys


def load(path, key):
    rows = collections.defaultdict(list)
    for line in open(path):
        r = json.loads(line)
        rows[key(r)].append(r)
    return rows


def med(rs, k):
    return statistics.median(r[k] for r in rs)


def cell(rs, k, fmt):
    v = sorted(r[k] for r in rs)
    return f"{fmt(statistics.median(v))} ({fmt(v[0])}-{fmt(v[-1])})"


def f0(v):
    return f"{v:.0f}"


def f1(v):
    return f"{v:.1f}"


def peak_mib(rs):
    return f"{max(r['server_peak_rss_kib'] for r in rs) / 1024:.1f}"


def half_rate(path, target, scenario):
    rows = load(path, lambda r: (r["target"], r["name"], r["rate"] > 0))
    rs = rows.get((target, scenario, False))
    print(int(med(rs, "rps") / 2) if rs else 0)


def matrix(path):
    rows = load(path, lambda r: (r["target"], r["name"], r["rate"] > 0))
    print("| target | scenario | operations/s | server CPU µs/op | p50 µs | p99 µs | p99.9 µs | errors | peak RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (target, name, open_loop), rs in rows.items():
        if open_loop:
            continue
        print(f"| {target} | {name} | {cell(rs, 'rps', f0)} | {cell(rs, 'server_cpu_us_per_request', f1)} | "
              f"{cell(rs, 'p50_us', f0)} | {cell(rs, 'p99_us', f0)} | {cell(rs, 'p999_us', f0)} | "
              f"{sum(r['errors'] for r in rs)} | {peak_mib(rs)} |")
    print()
    print("Open loop at half the maximum rate:")
    print()
    print("| target | scenario | offered/s | p50 µs | p90 µs | p99 µs | p99.9 µs | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for (target, name, open_loop), rs in rows.items():
        if not open_loop:
            continue
        print(f"| {target} | {name} | {rs[0]['rate']:.0f} | {cell(rs, 'p50_us', f0)} | {cell(rs, 'p90_us', f0)} | "
              f"{cell(rs, 'p99_us', f0)} | {cell(rs, 'p999_us', f0)} | {sum(r['errors'] for r in rs)} |")
    ratios = []
    for (target, name, open_loop), rs in rows.items():
        peer = rows.get(("peer", name, False))
        if target != "authd" or open_loop or not peer:
            continue
        ratios.append(f"| {name} | {med(rs, 'rps') / med(peer, 'rps'):.2f} | "
                      f"{med(peer, 'server_cpu_us_per_request') / med(rs, 'server_cpu_us_per_request'):.2f} |")
    if ratios:
        print()
        print("authd against the peer (medians; above 1 means authd is ahead):")
        print()
        print("| scenario | rate authd/peer | CPU per operation peer/authd |")
        print("| --- | --- | --- |")
        print("\n".join(ratios))
    static = rows.get(("nginx", "jwks", False))
    if static:
        bound = med(static, "server_cpu_us_per_request")
        print()
        print(f"nginx's static answer (authd's JWKS as a file, one worker) cost {bound:.1f} µs of server CPU per "
              "request in this run; authd against it (server CPU per operation, medians):")
        print()
        print("| scenario | authd µs/op | authd / nginx static |")
        print("| --- | --- | --- |")
        for (target, name, open_loop), rs in rows.items():
            if target == "authd" and not open_loop and name in ("jwks", "introspect"):
                cpu = med(rs, "server_cpu_us_per_request")
                print(f"| {name} | {cpu:.1f} | {cpu / bound:.2f} |")
    floors = [(name, rs, rows[("floor", name, False)]) for (target, name, open_loop), rs in rows.items()
              if target == "authd" and not open_loop and ("floor", name, False) in rows]
    if floors:
        print()
        print("authd against the floor (bench/floor_server: the exchanges, the crypto and one durable record "
              "per verification, nothing else), server CPU per operation, medians:")
        print()
        print("| scenario | authd µs/op | floor µs/op | authd / floor | authd above the floor µs/op |")
        print("| --- | --- | --- | --- | --- |")
        for name, rs, floor in floors:
            cpu, bound = med(rs, "server_cpu_us_per_request"), med(floor, "server_cpu_us_per_request")
            print(f"| {name} | {cpu:.1f} | {bound:.1f} | {cpu / bound:.2f} | {cpu - bound:.1f} |")


def scale(path):
    rows = load(path, lambda r: (r["label"], r["scenario"]))
    print("| users | database MiB | start-up ms (median of 5) | idle RSS MiB | scenario | operations/s | "
          "server CPU µs/op | peak RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    order = {"small": 0, "large": 1, "floor-small": 2, "floor-large": 3}
    for (label, scenario), rs in sorted(rows.items(), key=lambda kv: (kv[0][1], order.get(kv[0][0], 4))):
        r0 = rs[0]
        floor = label.startswith("floor-")
        start = "-" if floor else r0["start_ms"]
        idle = "-" if floor else f"{r0['idle_rss_kib'] / 1024:.1f}"
        name = f"{scenario} (floor)" if floor else scenario
        print(f"| {r0['users']} | {r0['db_mib']} | {start} | {idle} | {name} | "
              f"{cell(rs, 'rps', f0)} | {cell(rs, 'server_cpu_us_per_request', f1)} | {peak_mib(rs)} |")
    print()
    # Runs alternate small, large, run by run: each pair saw the same minute of the machine, so
    # the median of the pairs' ratios is steadier than the ratio of the two medians.
    for scenario in sorted({s for _, s in rows}):
        for prefix, who in (("", ""), ("floor-", " (the floor)")):
            if (prefix + "small", scenario) not in rows or (prefix + "large", scenario) not in rows:
                continue
            small_runs, large_runs = rows[(prefix + "small", scenario)], rows[(prefix + "large", scenario)]
            small = med(small_runs, "server_cpu_us_per_request")
            large = med(large_runs, "server_cpu_us_per_request")
            pairs = sorted(l["server_cpu_us_per_request"] / s["server_cpu_us_per_request"]
                           for s, l in zip(small_runs, large_runs))
            print(f"- {scenario}{who}: CPU per operation with many users / with 1000 users = {large / small:.2f} "
                  f"(medians); {statistics.median(pairs):.2f} ({pairs[0]:.2f}-{pairs[-1]:.2f}) over the pairs of runs")


if __name__ == "__main__":
    commands = {"half-rate": half_rate, "matrix": matrix, "scale": scale}
    if len(sys.argv) < 3 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
