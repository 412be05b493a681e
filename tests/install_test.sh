#!/usr/bin/env bash
# `cmake --install` puts the executables, the station's udev rules and its group where a system
# finds them. Usage: install_test.sh BUILD_DIR
set -euo pipefail
build=$1
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
cmake --install "$build" --prefix "$dest/usr" >/dev/null
fail() { echo "install_test: $*" >&2; exit 1; }
[[ -x $dest/usr/bin/authd && -x $dest/usr/bin/authctl ]] || fail "authd and authctl are not installed"
rules=$dest/usr/lib/udev/rules.d/70-authd-enrol.rules
[[ -f $rules ]] || fail "the udev rules are not installed"
grep -q 'ENV{ID_FIDO_TOKEN}=="1", GROUP="authd-enrol"' "$rules" || fail "FIDO devices are not given to authd-enrol"
grep -q 'ATTR{idVendor}=="1050", GROUP="authd-enrol"' "$rules" || fail "YubiKeys are not given to authd-enrol"
grep -q '^g authd-enrol' "$dest/usr/lib/sysusers.d/authd-enrol.conf" || fail "the authd-enrol group is not declared"
# Every rule line is KEY op "value" pairs separated by commas (what udev parses).
while IFS= read -r line; do
  [[ -z $line || $line == \#* ]] && continue
  [[ $line =~ ^([A-Za-z_]+(\{[^}]*\})?(==|!=|=|\+=)\"[^\"]*\"(,[[:space:]]*|$))+$ ]] || fail "not a udev rule: $line"
done < "$rules"
echo "install_test: ok"
