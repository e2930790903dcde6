#!/usr/bin/env bash
# Checks the operating artefacts with the real tools (run by .ci/run after the tests):
#   systemd unit  systemd-analyze security --offline (≤ 1.5); the unit as the package
#                 installs it is verified by scripts/check-deb.sh
#   Dockerfile    hadolint
#   alerts        promtool check rules + promtool test rules
#   Kubernetes    YAML parses; the embedded configs pass check-config
# Needs a debug build (cargo test builds one) and the tools .ci/run installs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/debug/docspace-retention}
fail=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== systemd-analyze security --offline=true"
security=$(systemd-analyze security --offline=true systemd/docspace-retention.service 2>&1 | tail -1)
echo "$security"
score=$(echo "$security" | grep -oE '[0-9]+\.[0-9]+' | head -1)
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 1.5) }' || { echo "exposure $score is above 1.5"; fail=1; }

echo "== hadolint Dockerfile"
if hadolint Dockerfile; then echo "clean"; else fail=1; fi
# The dependency layer needs a stand-in for every [[bench]] Cargo.toml declares.
for bench in $(awk '/^\[\[bench\]\]/{b=1; next} b && /^name *=/{gsub(/[" ]/,"",$3); print $3; b=0}' Cargo.toml); do
  grep -q "benches/$bench.rs" Dockerfile || { echo "Dockerfile lacks a stand-in for benches/$bench.rs"; fail=1; }
done

echo "== promtool check rules / test rules"
promtool check rules monitoring/alerts.yml || fail=1
(cd monitoring && promtool test rules alerts_test.yml) || fail=1

echo "== Grafana dashboard against @grafana/schema (tsc --strict)"
if command -v npm >/dev/null; then
  gs="$work/grafana-schema"
  mkdir -p "$gs"
  (cd "$gs" && npm init -y >/dev/null 2>&1 && npm install --silent --no-audit --no-fund @grafana/schema typescript >/dev/null 2>&1) || { echo "npm install failed"; fail=1; }
  # __inputs/__requires are the export wrapper, not part of the Dashboard type.
  python3 - "$gs/dash.ts" <<'PY'
import json, sys
d = json.load(open("monitoring/grafana-dashboard.json"))
d.pop("__inputs"); d.pop("__requires")
open(sys.argv[1], "w").write('import { Dashboard } from "@grafana/schema";\nexport const d: Dashboard = ' + json.dumps(d, indent=1) + ";\n")
PY
  if (cd "$gs" && npx --no-install tsc --strict --noEmit --skipLibCheck --module nodenext --moduleResolution nodenext dash.ts); then
    echo "clean"
  else
    fail=1
  fi
else
  echo "npm not installed: skipped"
fi

echo "== Kubernetes manifests"
python3 - "$BIN" "$work" <<'PY' || fail=1
import os, subprocess, sys, yaml
bin, work = sys.argv[1], sys.argv[2]
ok = True
for name in ["sidecar.yaml", "statefulset.yaml"]:
    docs = list(yaml.safe_load_all(open(f"deploy/kubernetes/{name}")))
    print(name, [d["kind"] for d in docs])
    # The state directory lives on a persistent volume, never an emptyDir.
    for d in docs:
        for v in d.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", []):
            if v["name"] == "state" and "persistentVolumeClaim" not in v:
                print(f"  {name}: the state volume is not a PersistentVolumeClaim: {v}")
                ok = False
    # ConfigMaps of conf.d files: every volume of that ConfigMap is mounted as conf.d/.
    portal_files = {}
    for d in docs:
        if d["kind"] == "ConfigMap" and "config.toml" not in d["data"]:
            portal_files.update(d["data"])
    for d in docs:
        if d["kind"] != "ConfigMap" or "config.toml" not in d["data"]:
            continue
        d_dir = os.path.join(work, d["metadata"]["name"])
        os.makedirs(os.path.join(d_dir, "conf.d"), exist_ok=True)
        key = os.path.join(d_dir, "key")
        open(key, "w").write("sk-check")
        os.chmod(key, 0o600)
        open(os.path.join(d_dir, "config.toml"), "w").write(d["data"]["config.toml"])
        for file_name, text in portal_files.items():
            open(os.path.join(d_dir, "conf.d", file_name), "w").write(text)
        if "[portals." not in d["data"]["config.toml"] and not portal_files:
            open(os.path.join(d_dir, "conf.d", "acme.toml"), "w").write(
                '[portals.acme]\nurl = "https://acme.example.com"\napi_key_file = "%s"\n' % key)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSPACE_RETENTION_")}
        env["DOCSPACE_RETENTION_PORTALS__ACME__API_KEY_FILE"] = key
        env["POD_NAME"] = "docspace-retention-2"
        r = subprocess.run([bin, "--config", os.path.join(d_dir, "config.toml"), "check-config"],
                           env=env, capture_output=True, text=True)
        print(" ", d["metadata"]["name"], "check-config:", r.returncode, (r.stdout + r.stderr).strip())
        ok &= r.returncode == 0
sys.exit(0 if ok else 1)
PY

if [ "$fail" != 0 ]; then echo "artefact checks FAILED"; exit 1; fi
echo "artefact checks passed"
