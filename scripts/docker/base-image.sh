#!/usr/bin/env bash
# Make the local base image the serving containers build FROM in tests, since no image can be
# pulled here: a minimal Debian 12 (debootstrap --variant=minbase) with python3.11, a venv on
# PATH at /opt/venv, ca-certificates and a headless JDK 17 (TorchServe runs on Java), imported
# with `docker import`, then the pinned CPU torch wheel from this machine installed on top
# (copied into the build context, never downloaded). Prints the image reference on stdout.
#
# Cached twice, keyed by every input (suite, packages, mirror, this script, the wheel's sha256):
# the root filesystem as a tar under $STATE/cache (survives an engine purge), and the images in
# the engine. A re-run with unchanged inputs does nothing and takes about a second.
set -euo pipefail
. "$(dirname "$0")/common.sh"

SUITE="${VXDEPLOY_BASE_SUITE:-bookworm}"
# The mirror this machine's apt uses (or $VXDEPLOY_DEBIAN_MIRROR): see debian-mirror.sh.
MIRROR="$("$(dirname "$0")/debian-mirror.sh" "$SUITE")"
INCLUDE="python3,python3-venv,ca-certificates,openjdk-17-jre-headless"
TORCH_WHEEL="${VXDEPLOY_TORCH_WHEEL:-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}"
CACHE="$VXDOCKER_STATE/cache"
mkdir -p "$CACHE"

[ -f "$TORCH_WHEEL" ] || { vx_log "torch wheel not found: $TORCH_WHEEL (set VXDEPLOY_TORCH_WHEEL)"; exit 1; }
vx_engine_ready || { vx_log "no engine at $VXDOCKER_HOST (scripts/docker/engine-up.sh)"; exit 1; }

# Bump when the root filesystem recipe below changes in a way its inputs do not show.
ROOTFS_RECIPE=1
rootfs_key="$(printf '%s\n' "$ROOTFS_RECIPE" "$SUITE" "$MIRROR" "$INCLUDE" | sha256sum | cut -c1-16)"
rootfs_image="vxdeploy-test/debian:$rootfs_key"
wheel_sum_file="$CACHE/$(basename "$TORCH_WHEEL").$(stat -c '%s-%Y' "$TORCH_WHEEL").sha256"
[ -s "$wheel_sum_file" ] || sha256sum "$TORCH_WHEEL" | cut -c1-64 > "$wheel_sum_file"
# This machine's extra CAs (a TLS-intercepting egress proxy signs PyPI's certificate with one):
# pip inside builds needs them, so they go into the image's system bundle and key the cache.
CA_DIR="${VXDEPLOY_EXTRA_CA_DIR:-/usr/local/share/ca-certificates}"
ca_sum="$(cat "$CA_DIR"/*.crt 2>/dev/null | sha256sum | cut -c1-64)"
# The image recipe is the Dockerfile below: hash this script's text from its heredoc on.
recipe_sum="$(sed -n '/^cat > "\$ctx\/Dockerfile"/,/^DOCKERFILE$/p' "$0" | sha256sum | cut -c1-64)"
base_key="$(printf '%s\n' "$rootfs_key" "$(cat "$wheel_sum_file")" "$ca_sum" "$recipe_sum" \
  | sha256sum | cut -c1-16)"
base_image="vxdeploy-test/base:$base_key"

has_image() { vx_docker image inspect "$1" >/dev/null 2>&1; }

if has_image "$base_image"; then echo "$base_image"; exit 0; fi

if ! has_image "$rootfs_image"; then
  tarball="$CACHE/rootfs-$rootfs_key.tar"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null 2>&1 || { vx_log "debootstrap not installed"; exit 1; }
    work="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
    trap 'vx_rm_tree "$work"' EXIT
    trap 'exit 143' TERM INT
    vx_log "debootstrap $SUITE ($INCLUDE) from $MIRROR (about a minute)"
    start=$SECONDS
    if ! timeout 900 debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$work/root" \
         "$MIRROR" >"$work/debootstrap.log" 2>&1; then
      vx_log "debootstrap failed; last log lines:"
      tail -n 15 "$work/debootstrap.log" >&2
      tail -n 15 "$work/root/debootstrap/debootstrap.log" >&2 2>/dev/null || true
      exit 1
    fi
    rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/archives/"*.deb
    tar -C "$work/root" --numeric-owner -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    find "$CACHE" -maxdepth 1 -name 'rootfs-*.tar' ! -name "$(basename "$tarball")" -delete
    vx_rm_tree "$work"; trap - EXIT
    vx_log "root filesystem ready in $((SECONDS - start))s ($(du -h "$tarball" | cut -f1))"
  fi
  timeout 600 "$VXDOCKER_CLI" --host "$VXDOCKER_HOST" import --change 'ENV LANG=C.UTF-8' \
    "$tarball" "$rootfs_image" >/dev/null
fi

ctx="$(mktemp -d "$CACHE/base-context.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
ln "$TORCH_WHEEL" "$ctx/" 2>/dev/null || cp "$TORCH_WHEEL" "$ctx/"
mkdir -p "$ctx/extra-ca"
cp "$CA_DIR"/*.crt "$ctx/extra-ca/" 2>/dev/null || true
echo "extra CA certificates of the machine that made this image" > "$ctx/extra-ca/README"
cat > "$ctx/Dockerfile" <<DOCKERFILE
FROM $rootfs_image
ENV VIRTUAL_ENV=/opt/venv \\
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=120 \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \\
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \\
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
COPY extra-ca/ /usr/local/share/ca-certificates/
RUN rm -f /usr/local/share/ca-certificates/README && update-ca-certificates >/dev/null
COPY $(basename "$TORCH_WHEEL") /tmp/wheels/
RUN python3 -m venv /opt/venv \\
 && pip install -q /tmp/wheels/*.whl numpy \\
 && rm -rf /tmp/wheels \\
 && python -c "import torch; print('torch', torch.__version__)"
LABEL ai.vxdeploy.test-base="$base_key"
CMD ["python3"]
DOCKERFILE
vx_log "building $base_image (torch wheel + its dependencies from PyPI)"
start=$SECONDS
DOCKER_BUILDKIT=0 timeout 1800 "$VXDOCKER_CLI" --host "$VXDOCKER_HOST" build --network host --force-rm -q -t "$base_image" \
  "$ctx" >/dev/null
vx_log "base image ready in $((SECONDS - start))s"
# Older bases (other inputs) and their leftovers only take disk now.
vx_docker images --format '{{.Repository}}:{{.Tag}}' vxdeploy-test/base \
  | grep -v -x -F "$base_image" | xargs -r "$VXDOCKER_CLI" --host "$VXDOCKER_HOST" rmi >/dev/null 2>&1 || true
vx_docker images --format '{{.Repository}}:{{.Tag}}' vxdeploy-test/debian \
  | grep -v -x -F "$rootfs_image" | xargs -r "$VXDOCKER_CLI" --host "$VXDOCKER_HOST" rmi >/dev/null 2>&1 || true
vx_docker image prune -f >/dev/null 2>&1 || true
echo "$base_image"
