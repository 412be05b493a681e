#!/usr/bin/env bash
# Start-up time, memory and per-operation cost with many users against few: fills a database
# with USERS users of KEYS WebAuthn keys each (bench/populate, through the store's write path),
# another with 1000 users, then for each: start-up to the first answered /healthz (median of 5),
# idle RSS, and the webauthn-login and introspect scenarios (median of 3 runs).
#   scripts/bench-scale.sh [USERS] [KEYS_PER_USER] [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-1000000}
keys=${2:-2}
duration=${3:-5}
AUTHD_BUILD_TARGETS="authd authctl loadgen populate" bash scripts/build.sh >/dev/null
dir=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export AUTHD_LISTEN=127.0.0.1:$port AUTHD_LOG_LEVEL=error AUTHD_RATE_LIMIT=0 AUTHD_TOKEN_TTL=3600
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
measure() {  # measure LABEL USERS
  local label=$1 n=$2
  export AUTHD_DB=$dir/$label.db
  echo "bench-scale: filling $label with $n users, $keys keys each" >&2
  build/bench/populate --db "$AUTHD_DB" --users "$n" --keys-per-user "$keys"
  build/bin/authctl user add benchadmin --role admin >/dev/null
  local token client
  token=$(build/bin/authctl token issue benchadmin)
  client=$(build/bin/authctl client add bench --scope introspect)
  local starts=()
  for run in 1 2 3 4 5; do
    local t0 t1
    t0=$(date +%s%N)
    build/bin/authd >>"$dir/$label.log" 2>&1 &
    pid=$!
    until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.002; done
    t1=$(date +%s%N)
    starts+=($(( (t1 - t0) / 1000000 )))
    if [[ $run -lt 5 ]]; then kill "$pid"; wait "$pid" || true; fi
  done
  sleep 3  # idle, after the background integrity check of a large file has finished
  local rss
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  local size
  size=$(du -m "$AUTHD_DB" | cut -f1)
  for scenario in webauthn-login introspect; do
    for run in 1 2 3; do
      build/bench/loadgen --port "$port" --scenario "$scenario" --admin-token "$token" --token "$token" \
        --client-id "$(json_field "$client" client_id)" --client-secret "$(json_field "$client" client_secret)" \
        --connections 16 --warmup 1 --duration "$duration" --server-pid "$pid" --json 2>/dev/null |
        python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r.update(label=sys.argv[1], users=int(sys.argv[2]), start_ms=sorted(map(int, sys.argv[3].split()))[2], idle_rss_kib=int(sys.argv[4]), db_mib=int(sys.argv[5])); print(json.dumps(r))' \
          "$label" "$n" "${starts[*]}" "$rss" "$size" >>"$dir/results.jsonl"
    done
  done
  kill "$pid"; wait "$pid" || true
  pid=
}
measure small 1000
measure large "$users"
python3 - "$dir/results.jsonl" <<'PY'
import json, sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line); rows[(r["label"], r["scenario"])].append(r)
print("| users | database MiB | start-up ms (median of 5) | idle RSS MiB | scenario | operations/s | server CPU µs/op | peak RSS MiB |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
base = {}
for (label, scenario), rs in rows.items():
    cpu = statistics.median(r["server_cpu_us_per_request"] for r in rs)
    if label == "small": base[scenario] = cpu
    r0 = rs[0]
    print(f"| {r0['users']} | {r0['db_mib']} | {r0['start_ms']} | {r0['idle_rss_kib']/1024:.1f} | {scenario} | "
          f"{statistics.median(r['rps'] for r in rs):.0f} | {cpu:.1f} | {max(r['server_peak_rss_kib'] for r in rs)/1024:.1f} |")
print()
for (label, scenario), rs in rows.items():
    if label == "large" and scenario in base:
        cpu = statistics.median(r["server_cpu_us_per_request"] for r in rs)
        print(f"{scenario}: CPU per operation with many users / with 1000 users = {cpu / base[scenario]:.2f}")
PY
