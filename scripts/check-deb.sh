#!/usr/bin/env bash
# Checks the Debian package as an admin would meet it: its file list, the unit as
# installed (systemd-analyze verify in a scratch root), the installed binary, and a
# real dpkg -i / -r / -P round trip when run as root.
# Usage: scripts/check-deb.sh target/debian/docspace-retention_*.deb
set -euo pipefail
deb=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

echo "== dpkg-deb -c"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\./#/#' > "$work/contents"
unit=$(grep -E '^/(usr/)?lib/systemd/system/docspace-retention.service$' "$work/contents" || true)
for path in /usr/bin/docspace-retention /etc/docspace-retention/config.toml \
            /usr/share/man/man1/docspace-retention.1.gz \
            /usr/share/bash-completion/completions/docspace-retention \
            /usr/share/zsh/vendor-completions/_docspace-retention \
            /usr/share/fish/vendor_completions.d/docspace-retention.fish \
            /usr/share/doc/docspace-retention/copyright \
            /usr/share/doc/docspace-retention/reference.md \
            /usr/share/doc/docspace-retention/runbook.md; do
  grep -qx "$path" "$work/contents" || { echo "missing: $path"; fail=1; }
done
[ -n "$unit" ] || { echo "missing: the systemd unit"; fail=1; }
dpkg-deb -I "$deb" conffiles | grep -qx /etc/docspace-retention/config.toml \
  || { echo "config.toml is not a conffile"; fail=1; }
echo "$(wc -l < "$work/contents") entries; unit at $unit"

echo "== extracted into a scratch root"
root="$work/root"
dpkg-deb -x "$deb" "$root"
"$root/usr/bin/docspace-retention" --version
mkdir -p "$root/usr/lib/systemd" "$root/bin"
cp -rn /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp "$(type -P kill)" "$root/bin/kill"
out=$(MANPATH="$root/usr/share/man" systemd-analyze verify --root="$root" "$unit" 2>&1) || fail=1
if [ -n "$out" ]; then echo "$out"; fail=1; else echo "systemd-analyze verify: clean"; fi
zcat "$root/usr/share/man/man1/docspace-retention.1.gz" | grep -q '^\.TH' || { echo "the man page is not roff"; fail=1; }
for section in "EXIT STATUS" FILES CONFIGURATION; do
  zcat "$root/usr/share/man/man1/docspace-retention.1.gz" | grep -q "^\.SH $section" || { echo "the man page has no $section"; fail=1; }
done
grep -q "Apache-2.0 OR MIT\|Apache License" "$root/usr/share/doc/docspace-retention/copyright" \
  || { echo "the copyright file names no license"; fail=1; }
bash -n "$root/usr/share/bash-completion/completions/docspace-retention" || fail=1

# CI's machine may keep an install an interrupted run left: purge it first.
if [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ] && dpkg -s docspace-retention >/dev/null 2>&1; then
  dpkg -P docspace-retention >/dev/null
fi
if [ "$(id -u)" = 0 ] && [ ! -e /usr/bin/docspace-retention ] && ! dpkg -s docspace-retention >/dev/null 2>&1; then
  echo "== dpkg -i / -r / -P"
  dpkg -i "$deb" >/dev/null
  /usr/bin/docspace-retention --version
  [ "$(stat -c %a /etc/docspace-retention/credentials)" = 700 ] || { echo "credentials/ is not 0700"; fail=1; }
  [ -d /etc/docspace-retention/conf.d ] || { echo "no conf.d/"; fail=1; }
  [ -f "$unit" ] || { echo "the unit is not installed"; fail=1; }
  echo 'edited by the admin' >> /etc/docspace-retention/config.toml
  dpkg -r docspace-retention >/dev/null
  [ ! -e /usr/bin/docspace-retention ] || { echo "dpkg -r left the binary"; fail=1; }
  grep -q 'edited by the admin' /etc/docspace-retention/config.toml || { echo "dpkg -r lost the edited conffile"; fail=1; }
  [ -d /etc/docspace-retention/credentials ] || { echo "dpkg -r removed the keys"; fail=1; }
  dpkg -P docspace-retention >/dev/null
  [ ! -e /etc/docspace-retention ] || { echo "dpkg -P left /etc/docspace-retention"; ls -la /etc/docspace-retention; fail=1; }
  echo "installed, removed (config and keys kept) and purged cleanly"
else
  echo "== dpkg -i skipped (not root, or docspace-retention already installed here)"
fi

if [ "$fail" != 0 ]; then echo "Debian package checks FAILED"; exit 1; fi
echo "Debian package checks passed"
