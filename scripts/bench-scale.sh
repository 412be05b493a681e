#!/usr/bin/env bash
# Start-up time, memory and per-operation cost with many users against few: fills one database
# with USERS users of KEYS WebAuthn keys each (bench/populate, through the store's write path)
# and another with 1000 users, times each authd's start-up to its first answered /healthz
# (median of 5), then runs both side by side and measures the webauthn-login and introspect
# scenarios on them alternately, run by run (5 runs each), so that both see the same machine.
#   scripts/bench-scale.sh [USERS] [KEYS_PER_USER] [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-1000000}
keys=${2:-2}
duration=${3:-5}
AUTHD_BUILD_TARGETS="authd authctl loadgen populate" bash scripts/build.sh >/dev/null
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
export AUTHD_LOG_LEVEL=error AUTHD_RATE_LIMIT=0 AUTHD_TOKEN_TTL=3600
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
declare -A port pid token client_id client_secret start_ms idle_rss db_mib count
count[small]=1000
count[large]=$users
for label in small large; do
  export AUTHD_DB=$dir/$label.db
  echo "bench-scale: filling $label with ${count[$label]} users, $keys keys each" >&2
  build/bench/populate --db "$AUTHD_DB" --users "${count[$label]}" --keys-per-user "$keys"
  build/bin/authctl user add benchadmin --role admin >/dev/null
  token[$label]=$(build/bin/authctl token issue benchadmin)
  c=$(build/bin/authctl client add bench --scope introspect)
  client_id[$label]=$(json_field "$c" client_id)
  client_secret[$label]=$(json_field "$c" client_secret)
  port[$label]=$(free_port)
  export AUTHD_LISTEN=127.0.0.1:${port[$label]}
  starts=()
  for run in 1 2 3 4 5; do
    t0=$(date +%s%N)
    build/bin/authd >>"$dir/$label.log" 2>&1 &
    p=$!
    until curl -sf "http://127.0.0.1:${port[$label]}/healthz" >/dev/null; do sleep 0.002; done
    t1=$(date +%s%N)
    starts+=($(( (t1 - t0) / 1000000 )))
    if [[ $run -lt 5 ]]; then kill "$p"; wait "$p" || true; fi
  done
  pid[$label]=$p
  pids+=("$p")
  start_ms[$label]=$(printf '%s\n' "${starts[@]}" | sort -n | sed -n 3p)
  db_mib[$label]=$(du -m "$AUTHD_DB" | cut -f1)
done
sleep 4  # idle, after the background integrity check of the large file
for label in small large; do idle_rss[$label]=$(awk '/VmRSS/ {print $2}' "/proc/${pid[$label]}/status"); done
for scenario in webauthn-login introspect; do
  for run in 1 2 3 4 5; do
    for label in small large; do
      echo "bench-scale: $scenario on $label, run $run/5" >&2
      build/bench/loadgen --port "${port[$label]}" --scenario "$scenario" --admin-token "${token[$label]}" \
        --token "${token[$label]}" --client-id "${client_id[$label]}" --client-secret "${client_secret[$label]}" \
        --connections 16 --warmup 1 --duration "$duration" --server-pid "${pid[$label]}" --json 2>/dev/null |
        python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r.update(label=sys.argv[1], users=int(sys.argv[2]), start_ms=int(sys.argv[3]), idle_rss_kib=int(sys.argv[4]), db_mib=int(sys.argv[5])); print(json.dumps(r))' \
          "$label" "${count[$label]}" "${start_ms[$label]}" "${idle_rss[$label]}" "${db_mib[$label]}" >>"$dir/results.jsonl"
    done
  done
done
python3 - "$dir/results.jsonl" <<'PY'
import json, sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line); rows[(r["label"], r["scenario"])].append(r)
def cell(rs, k, fmt):
    v = sorted(r[k] for r in rs)
    return f"{fmt(statistics.median(v))} ({fmt(v[0])}-{fmt(v[-1])})"
print("| users | database MiB | start-up ms (median of 5) | idle RSS MiB | scenario | operations/s | server CPU µs/op | peak RSS MiB |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for (label, scenario), rs in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0] != "small")):
    r0 = rs[0]
    print(f"| {r0['users']} | {r0['db_mib']} | {r0['start_ms']} | {r0['idle_rss_kib']/1024:.1f} | {scenario} | "
          f"{cell(rs, 'rps', lambda v: f'{v:.0f}')} | {cell(rs, 'server_cpu_us_per_request', lambda v: f'{v:.1f}')} | "
          f"{max(r['server_peak_rss_kib'] for r in rs)/1024:.1f} |")
print()
for scenario in sorted({s for _, s in rows}):
    small = statistics.median(r["server_cpu_us_per_request"] for r in rows[("small", scenario)])
    large = statistics.median(r["server_cpu_us_per_request"] for r in rows[("large", scenario)])
    print(f"- {scenario}: CPU per operation with many users / with 1000 users = {large / small:.2f}")
PY
