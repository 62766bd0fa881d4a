#!/usr/bin/env bash
# Run a command (the test suite) with the private engine's environment, then clean up: when
# up.sh started the engine for this run and no other run still holds it, stop it again.
# VXDEPLOY_DOCKER_KEEP=1 leaves it running (to iterate on docker tests).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"

if [ -s "$VXDOCKER_ENV" ]; then
  set -a; . "$VXDOCKER_ENV"; set +a
fi
leases="$VXDOCKER_STATE/leases"
mkdir -p "$leases"
touch "$leases/$$"

"$@"
rc=$?

rm -f "$leases/$$"
live=0
for lease in "$leases"/*; do
  [ -e "$lease" ] || continue
  if [ -d "/proc/$(basename "$lease")" ]; then live=1; else rm -f "$lease"; fi
done
if [ -e "$VXDOCKER_STATE/autostarted" ] && [ "$live" -eq 0 ] && [ "${VXDEPLOY_DOCKER_KEEP:-0}" != 1 ]; then
  "$here/down.sh"
fi
exit "$rc"
