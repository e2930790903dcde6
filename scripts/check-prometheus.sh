#!/usr/bin/env bash
# A live Prometheus (Debian's) with the shipped monitoring/alerts.yml, scraping the
# release daemon that manages two simulated portals: "acme" healthy, "broken" with a
# key the server rejects. Checks that the target is up, that every rule of every group
# evaluates without error, and that DocspaceRetentionPassFailing, its `for:` shortened
# to 5s in a copy of the rules, goes pending then firing for "broken" only.
# Needs the release binary (BIN) and prometheus; every server listens on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/docspace-retention}
SIM_PORT=${SIM_PORT:-0}                     # 0: any free port
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "prometheus check FAILED: $*"; tail -20 "$work/daemon.log" "$work/prometheus.log" 2>/dev/null || true; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cargo build --locked --example simulate 2>&1 | tail -1
target/debug/examples/simulate "$SIM_PORT" acme broken > "$work/sim.out" &
pids+=($!)
for _ in $(seq 50); do grep -q broken "$work/sim.out" && break; sleep 0.1; done
acme=$(awk '$1 == "acme" {print $2}' "$work/sim.out")
broken=$(awk '$1 == "broken" {print $2}' "$work/sim.out")
[ -n "$broken" ] || fail "the simulator did not start"

daemon_port=$(free_port)
echo -n sk-sim > "$work/acme.key"
echo -n sk-revoked > "$work/broken.key"
cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:$daemon_port"
[daemon]
state_dir = "$work/state"
[defaults]
schedule = "*/2 * * * * *"
max_retries = 0
[defaults.retention]
keep_last = 10
keep_daily = 7
[portals.acme]
url = "$acme"
api_key_file = "$work/acme.key"
[portals.broken]
url = "$broken"
api_key_file = "$work/broken.key"
TOML
"$BIN" --config "$work/config.toml" run > "$work/daemon.log" 2>&1 &
pids+=($!)

# The shipped rules, with the alert under test waiting 5s instead of 30m.
python3 - monitoring/alerts.yml "$work/alerts.yml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
head, sep, rest = text.partition("- alert: DocspaceRetentionPassFailing")
rest = re.sub(r"for: 30m", "for: 5s", rest, count=1)
assert rest != text.partition(sep)[2], "the PassFailing rule has no 'for: 30m' to shorten"
open(sys.argv[2], "w").write(head + sep + rest)
PY
prom_port=$(free_port)
cat > "$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$work/alerts.yml"]
scrape_configs:
  - job_name: docspace-retention
    static_configs: [{targets: ["127.0.0.1:$daemon_port"]}]
YAML
promtool check config "$work/prometheus.yml" >/dev/null
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address="127.0.0.1:$prom_port" > "$work/prometheus.log" 2>&1 &
pids+=($!)
api="http://127.0.0.1:$prom_port/api/v1"

# Polls until the Python check on the API's answers passes (60 s at most).
until_ok() {
  local what=$1 check=$2
  for _ in $(seq 120); do
    if python3 -c "$check" "$api" 2>/dev/null; then echo "ok: $what"; return 0; fi
    sleep 0.5
  done
  python3 -c "$check" "$api" || true
  fail "$what"
}
common='
import json, sys, urllib.request
api = sys.argv[1]
get = lambda p: json.load(urllib.request.urlopen(api + p))["data"]
'
until_ok "the daemon is a healthy target" "$common
t = get('/targets')['activeTargets']
assert len(t) == 1 and t[0]['health'] == 'up', t"
until_ok "every rule group evaluates without error" "$common
groups = get('/rules')['groups']
rules = [r for g in groups for r in g['rules']]
assert len(groups) >= 1 and len(rules) == 12, len(rules)
bad = [(r['name'], r['health'], r.get('lastError')) for r in rules if r['health'] != 'ok' or r.get('lastError')]
assert not bad, bad"
until_ok "DocspaceRetentionPassFailing is pending or firing for broken" "$common
a = [x for x in get('/alerts')['alerts'] if x['labels']['alertname'] == 'DocspaceRetentionPassFailing']
assert any(x['labels']['portal'] == 'broken' and x['state'] in ('pending', 'firing') for x in a), a"
until_ok "DocspaceRetentionPassFailing fires for broken, never for acme" "$common
a = [x for x in get('/alerts')['alerts'] if x['labels']['alertname'] == 'DocspaceRetentionPassFailing']
assert [x['labels']['portal'] for x in a] == ['broken'] and a[0]['state'] == 'firing', a
print('  ', a[0]['labels']['alertname'], a[0]['labels']['portal'], a[0]['state'], a[0]['annotations']['runbook_url'])"
echo "prometheus checks passed"
