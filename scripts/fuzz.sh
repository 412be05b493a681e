#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for a while (default 20 s each).
# Usage: scripts/fuzz.sh [SECONDS_EACH] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
bash scripts/install-deps.sh
all_targets="fuzz_json fuzz_urlencoded fuzz_base64 fuzz_jws_shape fuzz_http_head fuzz_chunked fuzz_ip_allow_list fuzz_client_data
  fuzz_authenticator_data fuzz_cose_key fuzz_attestation_object fuzz_cbor fuzz_der fuzz_u2f fuzz_yubiotp fuzz_ykval fuzz_softkey fuzz_ceremony_handle"
CC=clang CXX=clang++ AUTHD_BUILD_DIR=build-fuzz AUTHD_BUILD_TARGETS="$all_targets" bash scripts/build.sh -DAUTHD_FUZZ=ON -DAUTHD_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
targets=("$@")
all_targets=$(echo $all_targets)
if ((${#targets[@]} == 0)); then
  read -r -a targets <<< "$all_targets"
fi
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1
failed=0
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  corpus=$(mktemp -d)
  cp tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
  echo "fuzz: $t for ${seconds}s"
  if ! build-fuzz/fuzz/"$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1 \
      "$corpus" > "build-fuzz/$t.log" 2>&1; then
    echo "fuzz: $t FAILED; see build-fuzz/$t.log"; tail -40 "build-fuzz/$t.log"; failed=1
  else
    grep -E 'stat::number_of_executed_units' "build-fuzz/$t.log" | sed "s/^/fuzz: $t /" || true
  fi
  rm -rf "$corpus"
done
exit $failed
