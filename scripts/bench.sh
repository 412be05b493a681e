#!/usr/bin/env bash
# The HTTP benchmark matrix: authd (fresh database, durable) and the Node.js peer
# (../shared/peers/simplewebauthn-api: SimpleWebAuthn + jose, in memory), each scenario five times,
# the two interleaved run by run, then latency in open loop at half the measured maximum rate.
# nginx serving authd's JWKS as a static file runs beside jwks: the cost of a static HTTP answer
# on this machine in this hour, which bounds the HTTP part of every figure. bench/floor_server
# runs beside the verification scenarios it serves (webauthn-login, totp-verify, yubiotp-verify,
# ykval-verify):
# only the work no implementation can leave out (the exchanges, the crypto, one durable record per
# verification with group commit), the least those scenarios can cost in the same hour.
# Prints Markdown tables (medians with min-max), the authd/peer ratios, authd against nginx and
# against the floor.
#   scripts/bench.sh [DURATION_SECONDS] [CONNECTIONS]
# AUTHD_PEER_DIR points at the peer; AUTHD_BENCH_RUNS (5) and AUTHD_BENCH_SCENARIOS narrow a run.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
connections=${2:-16}
runs=${AUTHD_BENCH_RUNS:-5}
scenarios=${AUTHD_BENCH_SCENARIOS:-"jwks introspect webauthn-login webauthn-login-eddsa webauthn-register totp-verify yubiotp-verify ykval-verify"}
peer_src=${AUTHD_PEER_DIR:-../shared/peers/simplewebauthn-api}
bash scripts/install-deps.sh --with-bench >/dev/null
AUTHD_BUILD_TARGETS="authd authctl loadgen floor_server" bash scripts/build.sh >/dev/null
dir=$(mktemp -d)
source scripts/bench-lib.sh
port=$(free_port)
# webauthn-register adds keys to its users run after run: room for them all.
export AUTHD_DB=$dir/authd.db AUTHD_LISTEN=127.0.0.1:$port AUTHD_LOG_LEVEL=error AUTHD_RATE_LIMIT=0 AUTHD_TOKEN_TTL=3600 \
  AUTHD_MAX_CREDENTIALS_PER_USER=1000
authctl=build/bin/authctl
$authctl user add bench --role admin >/dev/null
token=$($authctl token issue bench)
client=$($authctl client add bench --scope introspect --scope ykval)
authd_args=(--port "$port" --client-id "$(json_field "$client" client_id)" --client-secret "$(json_field "$client" client_secret)"
            --token "$token" --admin-token "$token" --ykval-id "$(json_field "$client" ykval_id)"
            --ykval-key "$(json_field "$client" ykval_key)")
build/bin/authd >"$dir/authd.log" 2>&1 &
pid=$!
peer_pid=
nginx_dir=
floor_pid=
trap 'kill $pid $peer_pid $floor_pid 2>/dev/null; [[ -n $nginx_dir ]] && nginx -p "$nginx_dir" -c nginx.conf -s stop 2>/dev/null;
      wait 2>/dev/null; rm -rf "$dir" $nginx_dir' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

# The peer, copied next to the build and installed from the npm registry (pinned by its lock file).
if [[ -f $peer_src/server.js ]]; then
  mkdir -p build/peer
  cp "$peer_src"/server.js "$peer_src"/oploop.js "$peer_src"/package.json "$peer_src"/package-lock.json build/peer/
  [[ -d build/peer/node_modules ]] || (cd build/peer && npm ci --no-audit --no-fund >/dev/null)
  peer_port=$(free_port)
  PEER_BENCH_BOOTSTRAP=1 node build/peer/server.js --port "$peer_port" >"$dir/peer.log" 2>&1 &
  peer_pid=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$peer_port/healthz" >/dev/null && break; sleep 0.1; done
else
  echo "bench: no peer at $peer_src (set AUTHD_PEER_DIR); measuring authd alone" >&2
fi
# nginx (Debian's nginx-light) serving authd's JWKS as a file: the static-answer reference.
nginx_pids=
if [[ " $scenarios " == *" jwks "* ]]; then
  nginx_dir=$(mktemp -d)
  chmod 755 "$nginx_dir"  # its worker runs as an unprivileged user
  mkdir -p "$nginx_dir/html/.well-known"
  curl -sf "http://127.0.0.1:$port/.well-known/jwks.json" >"$nginx_dir/html/.well-known/jwks.json"
  nginx_port=$(free_port)
  nginx_pids=$(start_static_nginx "$nginx_dir" "$nginx_port")
fi
# The floor, with the same ykval client key as authd's bench client.
floor_port=$(free_port)
build/bench/floor_server --port "$floor_port" --log "$dir/floor.log" --ykval-key "$(json_field "$client" ykval_key)" \
  2>"$dir/floor.err" &
floor_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$floor_port/healthz" >/dev/null && break; sleep 0.1; done
echo "bench: authd pid $pid${peer_pid:+, peer pid $peer_pid}${nginx_pids:+, nginx workers $nginx_pids}, floor pid $floor_pid; $connections connections, ${duration} s per run, $runs runs" >&2

# How fast the machine is while it is measured (a shared virtual machine drifts from hour to hour):
# one core's P-256 verifications per second, before and after the matrix.
p256_rate() { openssl speed -seconds 2 ecdsap256 2>/dev/null | awk '/nistp256/ {print int($NF)}'; }
p256_before=$(p256_rate)

results=$dir/results.jsonl
one() {  # one() TARGET SCENARIO [loadgen args...]
  local target=$1 scenario=$2; shift 2
  local name=${scenario%-eddsa} extra=()
  [[ $scenario == *-eddsa ]] && extra+=(--alg eddsa)
  # Each TOTP user serves two codes per 30 s window: enough users for 8,000 codes a second (the
  # floor answers faster: three times as many).
  local users=$(( 4000 * (duration + 1) ))
  [[ $target == floor ]] && users=$(( users * 3 ))
  [[ $scenario == totp-verify ]] && extra+=(--users "$users")
  if [[ $target == authd ]]; then
    extra+=("${authd_args[@]}" --server-pid "$pid")
  elif [[ $target == nginx ]]; then
    extra+=(--port "$nginx_port" --server-pid "$nginx_pids")
  elif [[ $target == floor ]]; then
    extra+=("${authd_args[@]}" --port "$floor_port" --server-pid "$floor_pid")
  else
    extra+=(--peer --port "$peer_port" --server-pid "$peer_pid")
  fi
  # loadgen exits 1 when any request failed; the run is still recorded, with its error count.
  { build/bench/loadgen --scenario "$name" --connections "$connections" --warmup 1 --duration "$duration" --json \
      "${extra[@]}" "$@" 2>>"$dir/loadgen.log" || true; } |
    python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["target"]=sys.argv[1]; r["name"]=sys.argv[2]; print(json.dumps(r))' \
      "$target" "$scenario" >>"$results" || { echo "bench: $target $scenario run failed:" >&2; tail -3 "$dir/loadgen.log" >&2; }
}
peer_has() { [[ -n $peer_pid && " jwks introspect webauthn-login webauthn-register " == *" $1 "* ]]; }
for scenario in $scenarios; do
  for run in $(seq "$runs"); do
    echo "bench: $scenario run $run/$runs" >&2
    one authd "$scenario"
    if peer_has "$scenario"; then one peer "$scenario"; fi
    if [[ $scenario == jwks && -n $nginx_pids ]]; then one nginx jwks; fi
    if [[ " webauthn-login totp-verify yubiotp-verify ykval-verify " == *" $scenario "* ]]; then one floor "$scenario"; fi
  done
done
# Latency in open loop at half of each target's median maximum rate.
for scenario in introspect webauthn-login; do
  for target in authd peer; do
    [[ $target == peer ]] && ! peer_has "$scenario" && continue
    rate=$(python3 scripts/bench_report.py half-rate "$results" "$target" "$scenario")
    [[ $rate -gt 0 ]] || continue
    for run in $(seq 3); do
      echo "bench: $target $scenario open loop at $rate/s, run $run/3" >&2
      one "$target" "$scenario" --rate "$rate"
    done
  done
done
p256_after=$(p256_rate)
python3 scripts/bench_report.py matrix "$results"
echo
echo "Machine during the run: ${p256_before:-?} P-256 verifications/s on one core before the matrix, ${p256_after:-?} after (\`openssl speed ecdsap256\`)."
