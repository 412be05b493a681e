#!/usr/bin/env bash
# Installs every Debian package authd needs to build, run and test.
# Idempotent: when everything is present it returns in well under a second.
# --with-browser adds Chromium for the browser end-to-end tests; --with-bench adds nginx (the
# benchmark's static-answer reference; its service is not started) and wrk.
set -euo pipefail
with_browser=0 with_bench=0
for arg in "$@"; do
  case $arg in
    --with-browser) with_browser=1 ;;
    --with-bench) with_bench=1 ;;
    *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang libclang-rt-14-dev
  # libraries (DESIGN.md "Libraries")
  libpoco-dev libssl-dev openssl libsqlite3-dev sqlite3 libpq-dev
  libfido2-dev libcbor-dev libykpers-1-dev libyubikey-dev libqrencode-dev
  liboath-dev libykclient-dev libtcmalloc-minimal4
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev oathtool curl python3
  postgresql nlohmann-json3-dev prometheus-cpp-dev libcli11-dev
)

((with_browser)) && packages+=(chromium fonts-dejavu-core)
((with_bench)) && packages+=(nginx-light wrk)
missing=()
# Node.js and npm (for browser tests and the JOSE cross-check) come with the machine image on
# some hosts (a packaged nodejs that bundles npm); install Debian's only where neither exists.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run this script as root (or install them with apt-get)" >&2
  exit 1
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Services the packages bring (PostgreSQL, nginx) are not started: the tests and the benchmark
# start their own instances. policy-rc.d is the Debian way to say so, kept if one exists.
policy=/usr/sbin/policy-rc.d made_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
  trap '((made_policy)) && rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
