#!/usr/bin/env bash
# Install what the private engine needs, only what is missing: Debian's docker.io (dockerd,
# containerd, runc, the CLI), docker-registry (the CNCF distribution registry) and debootstrap
# (to make the base image, since no image can be pulled here). Needs root and apt.
set -euo pipefail
. "$(dirname "$0")/common.sh"

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  vx_log "missing ${missing[*]} and cannot install them (needs root and apt-get)"
  exit 1
fi
vx_log "installing ${missing[*]} (apt-get; about a minute)"
export DEBIAN_FRONTEND=noninteractive
timeout 600 apt-get update -qq
timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
