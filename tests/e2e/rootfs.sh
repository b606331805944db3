#!/usr/bin/env bash
# rootfs.sh — builds, once, the Debian bookworm tree the end-to-end tests
# boot with systemd-nspawn, and prints its path on standard output.
#
# The tree is cached under $CONNTRACKER_E2E_CACHE (default
# /var/tmp/conntracker-e2e) as rootfs-<hash>, the hash covering this script
# (and so the package list below): changing either builds a new tree. It is
# built in a temporary directory and renamed into place, under a lock, so a
# run that dies half-way leaves nothing a later run would trust. The tests
# boot it with --volatile=overlay: the cached tree stays pristine.
#
# The mirror is the machine's own: the first URI of its apt sources
# (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and deb822
# *.sources) that serves the suite.
#
# Needs root, debootstrap and systemd-container (systemd-nspawn); with
# --install-prereqs it installs both with apt-get --no-install-recommends
# (without it libnss-mymachines would edit the host's nsswitch.conf).
set -euo pipefail

suite=bookworm
# What the container needs to boot systemd as PID 1 with a system bus and
# polkit (libpam-systemd, or polkitd's logind dependency fails), the
# firewall tools the tests look with, and the libraries conntracker links
# (so its .deb installs offline with dpkg -i). Names checked with apt-cache
# on bookworm.
packages=(
  systemd systemd-sysv libpam-systemd dbus polkitd
  iproute2 nftables iptables conntrack adduser passwd procps
  libglib2.0-0 libjson-glib-1.0-0 libmnl0 libnftnl11 libsystemd0
  libpolkit-gobject-1-0
)

cache=${CONNTRACKER_E2E_CACHE:-/var/tmp/conntracker-e2e}

log() { printf 'rootfs.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

install_prereqs=0
for arg in "$@"; do
  case $arg in
    --install-prereqs) install_prereqs=1 ;;
    -h|--help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap)"

if [ $install_prereqs -eq 1 ]; then
  missing=()
  for p in debootstrap systemd-container; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    inst() {
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >&2
    }
    # A fresh machine may have no package lists yet: update once and retry.
    inst || { apt-get update -q >&2 && inst; } || die "apt-get install ${missing[*]} failed"
  fi
fi
command -v debootstrap >/dev/null || die "debootstrap is missing (run with --install-prereqs)"

key=$( { cat "$0"; printf '%s\n' "$suite" "${packages[@]}" "$(dpkg --print-architecture)"; } \
       | sha256sum | cut -c1-16)
target=$cache/rootfs-$key

if [ -e "$target/.complete" ]; then
  echo "$target"
  exit 0
fi

# Prints "URI KEYRING" for the first source that serves $suite.
find_mirror() {
  local f
  # deb822: stanzas separated by blank lines.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v suite="$suite" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "" && enabled != "no") {
          split(uris, u, " "); print u[1], signed; found = 1; exit
        }
        types = suites = uris = signed = enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val) }
      key == "types" { types = val } key == "suites" { suites = val }
      key == "uris" { uris = val } key == "signed-by" { signed = val }
      key == "enabled" { enabled = tolower(val) }
      END { if (!found) flush() }' "$f"
  done
  # One-line format: deb [options] URI SUITE COMPONENTS...
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk -v suite="$suite" '
      $1 != "deb" { next }
      {
        i = 2; signed = ""
        if ($2 ~ /^\[/) {
          for (; i <= NF; i++) {
            if ($i ~ /^\[?signed-by=/) { s = $i; sub(/^\[?signed-by=/, "", s); sub(/\]$/, "", s); signed = s }
            if ($i ~ /\]$/) { i++; break }
          }
        }
        if ($(i + 1) == suite) { print $i, signed; exit }
      }' "$f"
  done
}

read -r mirror keyring < <(find_mirror | head -n1) || true
[ -n "${mirror:-}" ] || die "no apt source serves $suite: cannot pick a mirror"

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -w 600 9 || die "timed out waiting for another build ($cache/.lock)"
if [ -e "$target/.complete" ]; then   # built by whoever held the lock
  echo "$target"
  exit 0
fi

tmp=$(mktemp -d "$cache/.build-$key.XXXXXX")
trap 'rm -rf --one-file-system "$tmp"' EXIT
start=$(date +%s)
opts=(--variant=minbase --components=main
      "--include=$(IFS=,; echo "${packages[*]}")")
if [ -n "${keyring:-}" ] && [ -r "$keyring" ]; then
  opts+=("--keyring=$keyring")
fi
log "debootstrap $suite into $tmp (mirror from the apt sources)"
if ! debootstrap "${opts[@]}" "$suite" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
  tail -n 30 "$tmp/debootstrap.log" >&2
  [ -r "$tmp/root/debootstrap/debootstrap.log" ] && tail -n 30 "$tmp/root/debootstrap/debootstrap.log" >&2
  die "debootstrap failed"
fi

root=$tmp/root
# Offline from here on: the tests install only the .deb they are given.
rm -f "$root/etc/apt/sources.list"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
# An empty machine-id: systemd makes a transient one at each boot, so two
# containers booted from this tree do not share one.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
echo "conntracker-e2e" >"$root/etc/hostname"
printf 'packages: %s\nbuilt: %s\n' "${packages[*]}" "$(date -u +%FT%TZ)" >"$root/.complete"

mv -T "$root" "$target"
log "built $target in $(( $(date +%s) - start )) s ($(du -sh "$target" | cut -f1))"
# Older trees of this script are no longer used.
for old in "$cache"/rootfs-*; do
  [ "$old" = "$target" ] || [ ! -d "$old" ] || rm -rf --one-file-system "$old"
done
echo "$target"
