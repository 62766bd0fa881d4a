#!/usr/bin/env bash
# Print the Debian mirror base-image.sh should debootstrap SUITE from (default bookworm):
#   1. $VXDEPLOY_DEBIAN_MIRROR, when set;
#   2. else the mirror this machine's apt already uses for SUITE: the first enabled `deb`
#      source in $VXDEPLOY_APT_DIR (default /etc/apt) — sources.list, sources.list.d/*.list
#      (one-line format) and sources.list.d/*.sources (deb822) — whose suites include SUITE,
#      then, failing that, one whose URI ends in /debian; security and other archives never;
#   3. else http://deb.debian.org/debian (Debian's CDN redirector).
# A machine behind a proxy or with a local mirror then builds from where it can reach.
set -euo pipefail

SUITE="${1:-${VXDEPLOY_BASE_SUITE:-bookworm}}"
APT_DIR="${VXDEPLOY_APT_DIR:-/etc/apt}"
FALLBACK="http://deb.debian.org/debian"

if [ -n "${VXDEPLOY_DEBIAN_MIRROR:-}" ]; then
  printf '%s\n' "${VXDEPLOY_DEBIAN_MIRROR%/}"; exit 0
fi

# One line per enabled deb source: "URI<TAB>suite suite…", in apt's reading order.
list_sources() {
  local file
  for file in "$APT_DIR/sources.list" "$APT_DIR"/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    # deb [options] URI SUITE COMPONENTS…
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$file" \
      | awk '$1 == "deb" && NF >= 3 { print $2 "\t" $3 }'
  done
  for file in "$APT_DIR"/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    # deb822: stanzas separated by blank lines; Types/URIs/Suites/Enabled fields.
    awk 'function flush() {
           if (types ~ /(^| )deb( |$)/ && enabled !~ /^(no|false|0)$/ && uris != "") {
             n = split(uris, u, " ")
             for (i = 1; i <= n; i++) print u[i] "\t" suites
           }
           types = ""; uris = ""; suites = ""; enabled = ""
         }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
           if (key == "types") types = $0
           else if (key == "uris") uris = $0
           else if (key == "suites") suites = $0
           else if (key == "enabled") enabled = tolower($0) }
         END { flush() }' "$file"
  done
}

usable() { case "$1" in http://*|https://*) return 0 ;; *) return 1 ;; esac; }

sources="$(list_sources || true)"
choice=""
while IFS=$'\t' read -r uri suites; do
  [ -n "$uri" ] && usable "$uri" || continue
  for s in $suites; do
    if [ "$s" = "$SUITE" ]; then choice="$uri"; break 2; fi
  done
done <<< "$sources"
if [ -z "$choice" ]; then
  while IFS=$'\t' read -r uri suites; do
    [ -n "$uri" ] && usable "$uri" || continue
    case "${uri%/}" in */debian) choice="$uri"; break ;; esac
  done <<< "$sources"
fi
choice="${choice:-$FALLBACK}"
printf '%s\n' "${choice%/}"
