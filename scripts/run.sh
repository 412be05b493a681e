#!/usr/bin/env bash
# Installs what authd needs, builds it, and starts it in the foreground with its embedded
# defaults: http://127.0.0.1:8080, SQLite at ./authd.db, keys created on first start.
# Stop it with Ctrl-C (SIGINT) or SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
echo "run: starting authd on http://localhost:8080 (data in $(pwd)/authd.db); first admin:"
echo "run:   build/bin/authctl user add admin --role admin && build/bin/authctl token issue admin"
exec build/bin/authd "$@"
