# Shared settings for the scripts that run vxdeploy's private Docker engine and registry.
#
# Everything lives under one state folder (default /var/tmp/vxdeploy-docker, shared by every
# checkout on the machine so the base image is made once): the engine's data root, exec root,
# pidfile and socket, the registry's config and storage, cached root filesystems, logs, and
# `env` — the file tests and other tools source to find the engine:
#   DOCKER_HOST=unix://$STATE/docker.sock        (what the `docker` library and CLI read)
#   VXDEPLOY_TEST_DOCKER_HOST=...                 (the same, for the test suite's docker marker)
#   VXDEPLOY_TEST_REGISTRY=127.0.0.1:PORT         (registry without auth, for push tests)
#   VXDEPLOY_TEST_BASE_IMAGE=vxdeploy-test/base:KEY  (Debian 12 + python3.11 venv + CPU torch)
# shellcheck shell=bash

VXDOCKER_STATE="${VXDEPLOY_DOCKER_STATE:-/var/tmp/vxdeploy-docker}"
VXDOCKER_SOCK="$VXDOCKER_STATE/docker.sock"
VXDOCKER_HOST="unix://$VXDOCKER_SOCK"
VXDOCKER_PIDFILE="$VXDOCKER_STATE/dockerd.pid"
VXDOCKER_LOG="$VXDOCKER_STATE/dockerd.log"
VXDOCKER_ENV="$VXDOCKER_STATE/env"
VXREGISTRY_DIR="$VXDOCKER_STATE/registry"
VXREGISTRY_PIDFILE="$VXREGISTRY_DIR/registry.pid"
# Bounds on every wait, in seconds.
VXDOCKER_START_TIMEOUT="${VXDEPLOY_DOCKER_START_TIMEOUT:-60}"
VXDOCKER_STOP_TIMEOUT="${VXDEPLOY_DOCKER_STOP_TIMEOUT:-30}"

vx_log() { printf '[docker-scripts] %s\n' "$*" >&2; }

# The docker CLI against our engine: docker.io's own client when present (the same 20.10 as
# the engine), and the classic builder (a newer CLI would otherwise ask for buildx).
if [ -x /usr/bin/docker ]; then VXDOCKER_CLI=/usr/bin/docker; else VXDOCKER_CLI=docker; fi
vx_docker() { DOCKER_HOST="$VXDOCKER_HOST" DOCKER_BUILDKIT=0 "$VXDOCKER_CLI" "$@"; }

vx_pid_alive() {  # PIDFILE EXPECTED_NAME: true when the file names a live process of that name
  local pid
  [ -s "$1" ] || return 1
  pid="$(cat "$1" 2>/dev/null)"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  grep -q -- "$2" "/proc/$pid/cmdline" 2>/dev/null
}

vx_engine_ready() { vx_docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

vx_stop_pidfile() {  # PIDFILE NAME: TERM, wait (bounded), then KILL; only the process named there
  local pid waited=0
  vx_pid_alive "$1" "$2" || { rm -f "$1"; return 0; }
  pid="$(cat "$1")"
  kill -TERM "$pid" 2>/dev/null || true
  while [ -d "/proc/$pid" ] && [ "$waited" -lt "$VXDOCKER_STOP_TIMEOUT" ]; do
    sleep 1; waited=$((waited + 1))
  done
  if [ -d "/proc/$pid" ]; then
    vx_log "$2 (pid $pid) did not stop in ${VXDOCKER_STOP_TIMEOUT}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

vx_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

vx_port_free() {  # PORT: true when nothing listens on 127.0.0.1:PORT
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

vx_rm_tree() {  # DIR: unmount whatever is mounted below DIR (deepest first), then delete it
  local dir="$1" mnt
  [ -e "$dir" ] || return 0
  { grep -o " $dir/[^ ]*" /proc/mounts || true; } | sort -r | while read -r mnt; do
    umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  done
  if grep -q " $dir/" /proc/mounts; then
    vx_log "refusing to delete $dir: something is still mounted below it"
    return 1
  fi
  rm -rf "$dir"
}
