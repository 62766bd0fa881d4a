#!/usr/bin/env bash
# Start vxdeploy's private Docker engine, or reuse it when it already answers (idempotent).
#
# dockerd runs with its own data root, exec root, pidfile, unix socket, config file and
# containerd namespace, so it never touches a system engine. No bridge and no iptables (they
# need privileges and networks CI machines often lack): containers and builds use the host's
# network (network_mode="host"). Storage driver: overlay2 when an overlay mount works in the
# state folder (fast, shares layers), else vfs (works everywhere, copies each layer);
# VXDEPLOY_DOCKER_STORAGE_DRIVER forces one.
set -euo pipefail
. "$(dirname "$0")/common.sh"

mkdir -p "$VXDOCKER_STATE"
if vx_pid_alive "$VXDOCKER_PIDFILE" dockerd && vx_engine_ready; then
  exit 0
fi
command -v dockerd >/dev/null 2>&1 || { vx_log "dockerd not installed (scripts/docker/install.sh)"; exit 1; }

# A dockerd that died uncleanly leaves its pidfile, socket and managed containerd behind.
vx_stop_pidfile "$VXDOCKER_PIDFILE" dockerd
vx_stop_pidfile "$VXDOCKER_STATE/exec/containerd/containerd.pid" containerd
rm -f "$VXDOCKER_SOCK"

probe_overlay() {
  local dir rc=1
  dir="$(mktemp -d "$VXDOCKER_STATE/overlay-probe.XXXXXX")"
  mkdir -p "$dir"/{lower,upper,work,merged}
  if mount -t overlay overlay -o "lowerdir=$dir/lower,upperdir=$dir/upper,workdir=$dir/work" \
       "$dir/merged" 2>/dev/null; then
    umount "$dir/merged"; rc=0
  fi
  rm -rf "$dir"
  return $rc
}

driver="${VXDEPLOY_DOCKER_STORAGE_DRIVER:-}"
if [ -z "$driver" ]; then
  # A data root keeps the driver it was made with; switching would hide its images.
  if [ -d "$VXDOCKER_STATE/data/overlay2" ]; then driver=overlay2
  elif [ -d "$VXDOCKER_STATE/data/vfs" ]; then driver=vfs
  elif probe_overlay; then driver=overlay2
  else driver=vfs
  fi
fi

echo '{}' > "$VXDOCKER_STATE/daemon.json"  # ignore /etc/docker/daemon.json
vx_log "starting dockerd (storage driver $driver) at $VXDOCKER_HOST"
setsid dockerd \
  --config-file "$VXDOCKER_STATE/daemon.json" \
  --data-root "$VXDOCKER_STATE/data" \
  --exec-root "$VXDOCKER_STATE/exec" \
  --pidfile "$VXDOCKER_PIDFILE" \
  --host "$VXDOCKER_HOST" \
  --storage-driver "$driver" \
  --iptables=false --ip6tables=false --bridge=none \
  --containerd-namespace vxdeploy --containerd-plugins-namespace vxdeploy-plugins \
  --log-level warn \
  </dev/null >>"$VXDOCKER_LOG" 2>&1 &

waited=0
until vx_engine_ready; do
  if [ "$waited" -ge "$VXDOCKER_START_TIMEOUT" ]; then
    vx_log "dockerd did not answer within ${VXDOCKER_START_TIMEOUT}s; last log lines:"
    tail -n 20 "$VXDOCKER_LOG" >&2 || true
    vx_stop_pidfile "$VXDOCKER_PIDFILE" dockerd
    exit 1
  fi
  if ! kill -0 $! 2>/dev/null; then
    vx_log "dockerd exited at start; last log lines:"
    tail -n 20 "$VXDOCKER_LOG" >&2 || true
    exit 1
  fi
  sleep 0.5; waited=$((waited + 1))
done
vx_log "dockerd ready"
