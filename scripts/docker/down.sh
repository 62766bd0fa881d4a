#!/usr/bin/env bash
# Stop the private registry and engine (idempotent). Containers are removed; images stay so
# the next run reuses the base image and warm layers, except images vxdeploy built more than a
# day ago. --purge also deletes the whole state folder (images, caches, registry storage).
set -uo pipefail
. "$(dirname "$0")/common.sh"

purge=0
[ "${1:-}" = "--purge" ] && purge=1

vx_stop_pidfile "$VXREGISTRY_PIDFILE" docker-registry
if vx_pid_alive "$VXDOCKER_PIDFILE" dockerd; then
  if vx_engine_ready; then
    ids="$(vx_docker ps -aq)"
    # shellcheck disable=SC2086
    [ -n "$ids" ] && timeout 60 "$VXDOCKER_CLI" --host "$VXDOCKER_HOST" rm -f $ids >/dev/null 2>&1
    timeout 120 "$VXDOCKER_CLI" --host "$VXDOCKER_HOST" image prune -a -f \
      --filter label=ai.vxdeploy.build-hash --filter until=24h >/dev/null 2>&1
  fi
  vx_stop_pidfile "$VXDOCKER_PIDFILE" dockerd
fi
vx_stop_pidfile "$VXDOCKER_STATE/exec/containerd/containerd.pid" containerd
rm -f "$VXDOCKER_SOCK" "$VXDOCKER_STATE/autostarted" "$VXDOCKER_ENV"

if [ "$purge" -eq 1 ] && [ -d "$VXDOCKER_STATE" ]; then
  # Never delete through a mount an unclean stop left behind.
  vx_rm_tree "$VXDOCKER_STATE" && vx_log "removed $VXDOCKER_STATE"
fi
exit 0
