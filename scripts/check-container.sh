#!/usr/bin/env bash
# Builds the container image with podman and runs it as a user would, against the
# built-in simulator: /readyz answers 200, a pass happens and is audited, the process
# runs as uid 65532, `podman healthcheck run` passes, SIGTERM stops it with exit 0 and
# the audit log on the mounted volume is intact.
#
# Public registries are out of reach here, so the Dockerfile's base images are given
# local equivalents through its build arguments: BINARY_FROM is an image holding the
# static (musl) binary built on this host the way the build stage builds it, and
# RUNTIME_IMAGE a distroless-like base assembled from the host's CA bundle and a passwd
# file with the nonroot user (65532). The runtime stage itself is the Dockerfile's; the
# build stage (rust image, musl-tools from Debian) is not run here: its cargo command is
# run on the host instead.
# Podman runs with --network=host (the only network these machines allow besides none),
# with runc, and with open-files and process limits below the sandbox's own (podman's
# defaults are above them, and runc then cannot start the container).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=docspace-retention:0.1.0
PORT=9464                                   # the image's listen address and HEALTHCHECK
SIM_PORT=${SIM_PORT:-0}                     # 0: any free port
work=$(mktemp -d)
name=retention-ci-$$
sim_pid=
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export CONTAINERS_CONF="$work/containers.conf"
printf '[containers]\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' > "$CONTAINERS_CONF"
fail() { echo "container check FAILED: $*"; podman logs "$name" 2>&1 | tail -20 || true; exit 1; }

if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then fail "port $PORT is in use"; fi

echo "== the static binary"
if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  # The build stage's command.
  cargo build --release --locked --target x86_64-unknown-linux-musl 2>&1 | tail -1
  bin=target/x86_64-unknown-linux-musl/release/docspace-retention
else
  # Without the musl target (rustup's downloads are out of reach on some machines) a
  # static glibc build stands in; the image's runtime stage is the same.
  echo "no x86_64-unknown-linux-musl target: a static glibc binary stands in"
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked \
    --target x86_64-unknown-linux-gnu --target-dir target/static 2>&1 | tail -1
  bin=target/static/x86_64-unknown-linux-gnu/release/docspace-retention
fi
file "$bin" | grep -q 'static' || fail "$bin is not statically linked"

echo "== local base images"
mkdir -p "$work/binary/state"
cp "$bin" "$work/binary/docspace-retention"
tar -C "$work/binary" -c . | podman import -q - localhost/docspace-retention-binary:ci >/dev/null
rt="$work/runtime"
mkdir -p "$rt/etc/ssl/certs" "$rt/tmp" "$rt/home/nonroot"
chmod 1777 "$rt/tmp"
cp /etc/ssl/certs/ca-certificates.crt "$rt/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$rt/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' > "$rt/etc/group"
printf 'hosts: files dns\n' > "$rt/etc/nsswitch.conf"
tar -C "$rt" --owner=0 --group=0 -c . | podman import -q - localhost/distroless-static-local:nonroot >/dev/null
# home/nonroot belongs to nonroot, as in distroless.
echo "== podman build"
podman build --quiet --pull=never --format docker --network=none \
  --build-arg BINARY_FROM=localhost/docspace-retention-binary:ci \
  --build-arg RUNTIME_IMAGE=localhost/distroless-static-local:nonroot \
  --build-arg GIT_COMMIT="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
  -t "$IMAGE" . >/dev/null
podman image inspect "$IMAGE" --format 'user={{.Config.User}} healthcheck={{.Config.Healthcheck.Test}}'
[ "$(podman image inspect "$IMAGE" --format '{{.Config.User}}')" = 65532:65532 ] || fail "the image does not run as 65532"

echo "== the simulator"
cargo build --locked --example simulate 2>&1 | tail -1
target/debug/examples/simulate "$SIM_PORT" acme > "$work/sim.out" &
sim_pid=$!
for _ in $(seq 50); do grep -q acme "$work/sim.out" && break; sleep 0.1; done
url=$(awk '$1 == "acme" {print $2}' "$work/sim.out")
[ -n "$url" ] || fail "the simulator did not start"

echo "== podman run"
mkdir -p "$work/etc" "$work/state" "$work/keys"
chown 65532:65532 "$work/state"
echo -n sk-sim > "$work/keys/acme"
chmod 0444 "$work/keys/acme"
cat > "$work/etc/config.toml" <<TOML
[defaults]
schedule = "*/2 * * * * *"
[defaults.retention]
keep_last = 10
keep_daily = 7
max_deletions_per_run = 5
[portals.acme]
url = "$url"
api_key_file = "/run/secrets/docspace-retention/acme"
TOML
# No systemd here to run the image's periodic HEALTHCHECK timer: `podman healthcheck run`
# below runs the same check once.
podman run -d --name "$name" --network=host --health-interval=disable \
  -v "$work/etc/config.toml:/etc/docspace-retention/config.toml:ro,Z" \
  -v "$work/keys:/run/secrets/docspace-retention:ro,Z" \
  -v "$work/state:/var/lib/docspace-retention:Z" \
  "$IMAGE" >/dev/null

ready=
for _ in $(seq 100); do
  if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ]; then ready=1; break; fi
  sleep 0.1
done
[ -n "$ready" ] || fail "/readyz never answered 200"
echo "/readyz 200"

passed=
for _ in $(seq 100); do
  metrics=$(curl -s "http://127.0.0.1:$PORT/metrics" || true)
  if grep -q '^docspace_retention_runs_total{outcome="success",portal="acme"} [1-9]' <<<"$metrics"; then passed=1; break; fi
  sleep 0.1
done
[ -n "$passed" ] || fail "no successful pass"
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^docspace_retention_(runs_total|deletions_total)\{' || true

pid=$(podman inspect "$name" --format '{{.State.Pid}}')
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$uid" = 65532 ] || fail "the daemon runs as uid $uid"
echo "runs as uid $uid"

podman healthcheck run "$name" || fail "podman healthcheck run failed"
echo "podman healthcheck run: healthy"

podman kill --signal TERM "$name" >/dev/null
code=$(podman wait "$name")
[ "$code" = 0 ] || fail "SIGTERM ended it with exit $code"
echo "SIGTERM: exit 0"

audit="$work/state/audit.jsonl"
[ -s "$audit" ] || fail "no audit log on the volume"
python3 - "$audit" <<'PY' || fail "the audit log is not intact"
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "", "the last line is torn"
records = [json.loads(l) for l in lines[:-1]]
intents = {(r["portal"], r["backup_id"]) for r in records if r["phase"] == "intent"}
results = {(r["portal"], r["backup_id"]) for r in records if r["phase"] == "result"}
assert intents and intents == results, f"{len(intents)} intents, {len(results)} results"
deleted = sum(1 for r in records if r.get("outcome") == "deleted")
assert deleted > 0, "nothing was deleted"
print(f"audit log intact: {len(records)} lines, {deleted} deletions, every intent has its result")
PY
echo "container checks passed"
