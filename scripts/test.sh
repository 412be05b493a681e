#!/usr/bin/env bash
# Installs everything the tests need, builds, and runs every test (unit, integration, end to
# end) with CTest. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --with-browser
if [[ -f tests/js/package.json ]]; then
  echo "test: installing the JavaScript test dependencies (npm ci)"
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
fi
bash scripts/build.sh -DAUTHD_BUILD_TESTS=ON
echo "test: running the test suite"
ctest --test-dir "${AUTHD_BUILD_DIR:-build}" --output-on-failure --parallel "$(nproc)" --timeout 300 "$@"
