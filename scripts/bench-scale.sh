#!/usr/bin/env bash
# Start-up time, memory and per-operation cost with many users against few: fills one database
# with USERS users of KEYS WebAuthn keys each (bench/populate, through the store's write path)
# and another with 1000 users, times each authd's start-up to its first answered /healthz
# (median of 5), then runs both side by side and measures the webauthn-login (16 users of its own,
# and all the populated users at random) and introspect scenarios on them alternately, run by run
# (5 runs each), so that both see the same machine. Spread logins also run against the floor
# (bench/floor_server --population) on a copy of each database: the least a server reading the
# same keys from the same store does, for the same ratio.
#   scripts/bench-scale.sh [USERS] [KEYS_PER_USER] [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-1000000}
keys=${2:-2}
duration=${3:-5}
bash scripts/install-deps.sh >/dev/null
AUTHD_BUILD_TARGETS="authd authctl loadgen populate floor_server" bash scripts/build.sh >/dev/null
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
export AUTHD_LOG_LEVEL=error AUTHD_RATE_LIMIT=0 AUTHD_TOKEN_TTL=3600
source scripts/bench-lib.sh
declare -A port pid token client_id client_secret start_ms idle_rss db_mib count
count[small]=1000
count[large]=$users
for label in small large; do
  export AUTHD_DB=$dir/$label.db
  echo "bench-scale: filling $label with ${count[$label]} users, $keys keys each" >&2
  build/bench/populate --db "$AUTHD_DB" --users "${count[$label]}" --keys-per-user "$keys" --key-out "$dir/$label.key"
  if [[ $keys -ge 1 ]]; then  # the floor's copy (it writes to it), served beside authd
    cp "$AUTHD_DB" "$dir/floor-$label.db"
    port[floor-$label]=$(free_port)
    build/bench/floor_server --port "${port[floor-$label]}" --population "$dir/floor-$label.db" \
      >>"$dir/floor-$label.log" 2>&1 &
    pid[floor-$label]=$!
    pids+=("${pid[floor-$label]}")
    token[floor-$label]=x client_id[floor-$label]=x client_secret[floor-$label]=x count[floor-$label]=${count[$label]}
  fi
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
for label in small large; do
  idle_rss[$label]=$(awk '/VmRSS/ {print $2}' "/proc/${pid[$label]}/status")
  start_ms[floor-$label]=0 idle_rss[floor-$label]=0 db_mib[floor-$label]=${db_mib[$label]}
done
# webauthn-login: 16 users of its own logging in over and over (the pages they need stay hot);
# webauthn-login-spread: each ceremony one of all the populated users, at random (when they have
# keys), so that logins reach all over the store, as a real organisation's do.
scenarios="webauthn-login introspect"
[[ $keys -ge 1 ]] && scenarios="webauthn-login webauthn-login-spread introspect"
for scenario in $scenarios; do
  labels="small large"
  [[ $scenario == webauthn-login-spread ]] && labels="small large floor-small floor-large"
  for run in 1 2 3 4 5; do
    for label in $labels; do
      echo "bench-scale: $scenario on $label, run $run/5" >&2
      extra=(--scenario "$scenario")
      [[ $scenario == webauthn-login-spread ]] &&
        extra=(--scenario webauthn-login --spread-users "${count[$label]}" --spread-key "$dir/${label#floor-}.key")
      build/bench/loadgen --port "${port[$label]}" "${extra[@]}" --admin-token "${token[$label]}" \
        --token "${token[$label]}" --client-id "${client_id[$label]}" --client-secret "${client_secret[$label]}" \
        --connections 16 --warmup 1 --duration "$duration" --server-pid "${pid[$label]}" --json 2>/dev/null |
        python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r.update(scenario=sys.argv[6], label=sys.argv[1], users=int(sys.argv[2]), start_ms=int(sys.argv[3]), idle_rss_kib=int(sys.argv[4]), db_mib=int(sys.argv[5])); print(json.dumps(r))' \
          "$label" "${count[$label]}" "${start_ms[$label]}" "${idle_rss[$label]}" "${db_mib[$label]}" "$scenario" >>"$dir/results.jsonl"
    done
  done
done
python3 scripts/bench_report.py scale "$dir/results.jsonl"
