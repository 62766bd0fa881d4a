#!/usr/bin/env bash
# Start a private registry (Debian's docker-registry) on 127.0.0.1 without auth, or reuse it.
# The engine treats 127.0.0.0/8 registries as insecure (plain HTTP) by default, so pushes work
# with no engine configuration. Prints the registry address (127.0.0.1:PORT) on stdout.
set -euo pipefail
. "$(dirname "$0")/common.sh"

mkdir -p "$VXREGISTRY_DIR/data"
port_file="$VXREGISTRY_DIR/port"
answers() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
              "http://127.0.0.1:$1/v2/" >/dev/null 2>&1; }

if vx_pid_alive "$VXREGISTRY_PIDFILE" docker-registry && [ -s "$port_file" ] \
   && answers "$(cat "$port_file")"; then
  echo "127.0.0.1:$(cat "$port_file")"; exit 0
fi
command -v docker-registry >/dev/null 2>&1 || { vx_log "docker-registry not installed"; exit 1; }
vx_stop_pidfile "$VXREGISTRY_PIDFILE" docker-registry

port="${VXDEPLOY_REGISTRY_PORT:-}"
if [ -z "$port" ]; then
  port="$(cat "$port_file" 2>/dev/null || true)"  # keep the address stable across restarts
  if [ -z "$port" ] || ! vx_port_free "$port"; then port="$(vx_free_port)"; fi
fi
cat > "$VXREGISTRY_DIR/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $VXREGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
setsid docker-registry serve "$VXREGISTRY_DIR/config.yml" </dev/null \
  >>"$VXREGISTRY_DIR/registry.log" 2>&1 &
echo $! > "$VXREGISTRY_PIDFILE"
echo "$port" > "$port_file"
for _ in $(seq 1 "$((VXDOCKER_START_TIMEOUT * 2))"); do
  if answers "$port"; then echo "127.0.0.1:$port"; exit 0; fi
  kill -0 "$(cat "$VXREGISTRY_PIDFILE")" 2>/dev/null || break
  sleep 0.5
done
vx_log "registry did not answer on 127.0.0.1:$port; last log lines:"
tail -n 20 "$VXREGISTRY_DIR/registry.log" >&2 || true
vx_stop_pidfile "$VXREGISTRY_PIDFILE" docker-registry
exit 1
