#!/usr/bin/env bash
# build-deb.sh [OUTDIR] — builds the conntracker .deb from a clean copy of
# this source tree with `dpkg-buildpackage -us -uc -b`, and prints the
# path of the binary package on standard output.
#
# The copy holds what git would commit (tracked files plus untracked ones
# that .gitignore does not exclude), so build directories and editor
# leftovers never reach the package; outside a git checkout it is an rsync
# without build*/ and _build/. debian/control's Build-Depends are
# installed with `apt-get build-dep` on the copy (root only; otherwise
# dpkg-buildpackage reports what is missing).
#
# OUTDIR (default: a new directory under $CONNTRACKER_E2E_CACHE, itself by
# default /var/tmp/conntracker-e2e) receives the .deb, .buildinfo and
# .changes; the copied tree is removed. DEB_BUILD_OPTIONS passes through
# (e.g. nocheck to skip the package's own unit tests).
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
cache=${CONNTRACKER_E2E_CACHE:-/var/tmp/conntracker-e2e}
log() { printf 'build-deb.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ -f "$src/debian/control" ] || die "$src/debian/control is missing: no package to build"

if [ $# -ge 1 ]; then
  out=$1
  mkdir -p "$out"
else
  mkdir -p "$cache"
  out=$(mktemp -d "$cache/deb.XXXXXX")
fi
out=$(cd "$out" && pwd)

work=$(mktemp -d "$cache/.debbuild.XXXXXX" 2>/dev/null || mktemp -d)
trap 'rm -rf --one-file-system "$work"' EXIT
pkgsrc=$work/conntracker

mkdir -p "$pkgsrc"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Tracked (as they are in the work tree) plus untracked-but-not-ignored.
  # shellcheck disable=SC2016 # the inner sh expands "$f"
  git -C "$src" ls-files -z --cached --others --exclude-standard \
    | (cd "$src" && xargs -0 -r sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] && printf "%s\0" "$f"; done' sh) \
    | tar -C "$src" --null -T - -cf - | tar -C "$pkgsrc" -xf -
else
  rsync -a --exclude='/build*/' --exclude='/_build/' --exclude='.git/' "$src/" "$pkgsrc/"
fi

if [ "$(id -u)" -eq 0 ]; then
  log "installing Build-Depends"
  build_dep() {
    DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q --no-install-recommends \
      "$pkgsrc" >>"$work/build-dep.log" 2>&1
  }
  # A fresh machine may have no package lists yet: update once and retry.
  build_dep || { apt-get update -q >>"$work/build-dep.log" 2>&1 && build_dep; } \
    || { tail -n 30 "$work/build-dep.log" >&2; die "apt-get build-dep failed"; }
fi

log "dpkg-buildpackage -us -uc -b in $pkgsrc"
start=$(date +%s)
if ! (cd "$pkgsrc" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
  cp "$work/build.log" "$out/build.log"
  tail -n 40 "$work/build.log" >&2
  die "dpkg-buildpackage failed (full log: $out/build.log)"
fi
cp "$work/build.log" "$out/build.log"
shopt -s nullglob
artifacts=("$work"/*.deb "$work"/*.ddeb "$work"/*.buildinfo "$work"/*.changes)
[ ${#artifacts[@]} -gt 0 ] && cp "${artifacts[@]}" "$out/"
debs=("$out"/conntracker_*.deb)
[ ${#debs[@]} -eq 1 ] || die "expected one conntracker_*.deb in $out, found ${#debs[@]}"
log "built ${debs[0]} in $(( $(date +%s) - start )) s"
echo "${debs[0]}"
