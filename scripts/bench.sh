#!/usr/bin/env bash
# Runs the HTTP load generator against a real authd on a fresh database: each scenario five
# times (after a warm-up), the medians and min-max written as a Markdown table.
#   scripts/bench.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
connections=${2:-8}
AUTHD_BUILD_TARGETS="authd authctl loadgen" bash scripts/build.sh >/dev/null
dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AUTHD_DB=$dir/authd.db AUTHD_LISTEN=127.0.0.1:$port AUTHD_LOG_LEVEL=error AUTHD_RATE_LIMIT=0 AUTHD_TOKEN_TTL=3600
authctl=build/bin/authctl
$authctl user add bench --role admin >/dev/null
token=$($authctl token issue bench)
client=$($authctl client add bench --scope introspect --scope ykval)
id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$client")
secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$client")
build/bin/authd >"$dir/authd.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "bench: authd pid $pid on port $port; $connections connections, ${duration} s per run, 5 runs per scenario" >&2
results=$dir/results.jsonl
for scenario in jwks introspect webauthn-login; do
  for run in 1 2 3 4 5; do
    echo "bench: $scenario run $run" >&2
    build/bench/loadgen --port "$port" --scenario "$scenario" --client-id "$id" --client-secret "$secret" \
      --token "$token" --admin-token "$token" --connections "$connections" --warmup 2 --duration "$duration" --server-pid "$pid" --json \
      >>"$results"
  done
done
python3 - "$results" <<'PY'
import json, sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line); rows[r["scenario"]].append(r)
def cell(vals, fmt):
    vals = sorted(vals)
    return f"{fmt(statistics.median(vals))} ({fmt(vals[0])}-{fmt(vals[-1])})"
print("| scenario | requests/s | server CPU µs/request | p50 µs | p99 µs | p99.9 µs | errors | peak RSS MiB |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for name, rs in rows.items():
    print(f"| {name} | {cell([r['rps'] for r in rs], lambda v: f'{v:.0f}')} | "
          f"{cell([r['server_cpu_us_per_request'] for r in rs], lambda v: f'{v:.1f}')} | "
          f"{cell([r['p50_us'] for r in rs], lambda v: f'{v:.0f}')} | {cell([r['p99_us'] for r in rs], lambda v: f'{v:.0f}')} | "
          f"{cell([r['p999_us'] for r in rs], lambda v: f'{v:.0f}')} | {sum(r['errors'] for r in rs)} | "
          f"{max(r['server_peak_rss_kib'] for r in rs) / 1024:.1f} |")
PY
