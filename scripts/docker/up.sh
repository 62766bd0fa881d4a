#!/usr/bin/env bash
# Bring up everything the Docker tests need, reusing what already runs: install missing
# packages, start the engine and the registry, make (or reuse) the base image, and write
# $STATE/env for the tests. Exit status 0 only when all of it is ready; otherwise $STATE/env
# says why (VXDEPLOY_TEST_DOCKER_UNAVAILABLE), the docker tests skip with that reason, and the
# rest of the suite runs as usual. Times go to stderr and $STATE/timings.log.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
mkdir -p "$VXDOCKER_STATE"
started=$SECONDS

write_env() {  # KEY=VALUE lines, replacing the file atomically
  printf '%s\n' "$@" > "$VXDOCKER_ENV.part" && mv "$VXDOCKER_ENV.part" "$VXDOCKER_ENV"
}
unavailable() {
  vx_log "docker tests will be skipped: $1"
  write_env "VXDEPLOY_TEST_DOCKER_UNAVAILABLE='$1'"
  exit 1
}
step() {  # NAME COMMAND...: run a step, record its time
  local t0=$SECONDS rc
  "${@:2}"; rc=$?
  printf '%s %s %ss rc=%s\n' "$(date -u +%FT%TZ)" "$1" "$((SECONDS - t0))" "$rc" \
    >> "$VXDOCKER_STATE/timings.log"
  return $rc
}

step install "$here/install.sh" || unavailable "could not install docker.io/docker-registry/debootstrap"
was_running=0
vx_pid_alive "$VXDOCKER_PIDFILE" dockerd && vx_engine_ready && was_running=1
step engine "$here/engine-up.sh" || unavailable "dockerd did not start (see $VXDOCKER_LOG)"
# Remember that this run started the engine, so with-engine.sh may stop it afterwards.
[ "$was_running" -eq 0 ] && touch "$VXDOCKER_STATE/autostarted"
registry="$(step registry "$here/registry-up.sh")" || unavailable "the registry did not start"
base="$(step base-image "$here/base-image.sh")" || unavailable "the base image could not be made"

write_env "DOCKER_HOST=$VXDOCKER_HOST" \
          "VXDEPLOY_TEST_DOCKER_HOST=$VXDOCKER_HOST" \
          "VXDEPLOY_TEST_REGISTRY=$registry" \
          "VXDEPLOY_TEST_BASE_IMAGE=$base" \
          "VXDEPLOY_TEST_REQUIRE_DOCKER=1"
vx_log "engine $VXDOCKER_HOST, registry $registry, base $base ready in $((SECONDS - started))s"
vx_log "use it: set -a; . $VXDOCKER_ENV; set +a"
