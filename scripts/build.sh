#!/usr/bin/env bash
# Configures and builds authd into build/ (or $AUTHD_BUILD_DIR). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${AUTHD_BUILD_DIR:-build}
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
elif (($# > 0)); then
  cmake -S . -B "$build_dir" "$@"
fi
echo "build: compiling in $build_dir (this takes a few minutes the first time)"
targets=()
for t in ${AUTHD_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build_dir" --parallel "$(nproc)" "${targets[@]}"
if [[ -z "${AUTHD_BUILD_TARGETS:-}" ]]; then
  echo "build: done: $build_dir/bin/authd and $build_dir/bin/authctl"
else
  echo "build: done: ${AUTHD_BUILD_TARGETS}"
fi
