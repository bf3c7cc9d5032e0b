#!/bin/sh
# Build (once) the Debian rootfs the systemd test tier boots with systemd-nspawn.
#
#   scripts/test-rootfs.sh            build if missing, print the tarball path
#   scripts/test-rootfs.sh --force    rebuild even if the cached tarball exists
#
# Result: $AISTACK_TEST_CACHE/rootfs/bookworm-systemd-<key>.tar.zst (default
# cache ~/.cache/aistack-test), where <key> is a hash of the suite and package
# list, so changing either builds a new tarball instead of reusing a stale one.
# The mirror is read from this machine's own apt configuration at run time.
# Needs root (debootstrap, device nodes). Idempotent: a second run only prints.
set -eu

SUITE=bookworm
PACKAGES="systemd,systemd-sysv,dbus,python3,python3-venv,ca-certificates,iproute2,curl"
CACHE="${AISTACK_TEST_CACHE:-$HOME/.cache/aistack-test}"
OUTDIR="$CACHE/rootfs"

force=0
[ "${1:-}" = "--force" ] && force=1

log() { printf '%s\n' "test-rootfs: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap creates device nodes and chowns files)"

key=$(printf '%s %s %s\n' "$SUITE" "$PACKAGES" "v1" | sha256sum | cut -c1-12)
tarball="$OUTDIR/$SUITE-systemd-$key.tar.zst"

if [ "$force" = 0 ] && [ -s "$tarball" ]; then
    printf '%s\n' "$tarball"
    exit 0
fi

# Host tools: debootstrap builds the tree, zstd packs it, systemd-nspawn boots
# it later (systemd-container). Install what is missing through apt.
need=""
command -v debootstrap >/dev/null 2>&1 || need="$need debootstrap"
command -v zstd >/dev/null 2>&1 || need="$need zstd"
command -v systemd-nspawn >/dev/null 2>&1 || need="$need systemd-container"
if [ -n "$need" ]; then
    log "installing host tools:$need"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >&2
fi

# The mirror this machine already uses for $SUITE. Never hard-coded.
# shellcheck source=scripts/lib/debian-mirror.sh
. "$(dirname "$0")/lib/debian-mirror.sh"
mirror=$(debian_mirror "$SUITE")
[ -n "$mirror" ] || die "no apt source for '$SUITE' found in /etc/apt; set AISTACK_TEST_MIRROR to a Debian mirror URL"

mkdir -p "$OUTDIR"
work=$(mktemp -d "$OUTDIR/.build.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT INT TERM

log "debootstrap $SUITE (minbase + $PACKAGES) from the configured mirror into $work/root"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
}

root="$work/root"
# A booted container should come up fast and quietly: no consoles to spawn, no
# clock sync, no per-boot apt timers; an empty machine-id is filled at boot.
echo aistack-test >"$root/etc/hostname"
: >"$root/etc/machine-id"
for unit in getty@tty1.service console-getty.service apt-daily.timer apt-daily-upgrade.timer \
    systemd-timesyncd.service e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log

log "packing $tarball"
tar -C "$root" --numeric-owner --xattrs --acls -cf - . | zstd -q -T0 -3 -o "$work/rootfs.tar.zst"
mv -f "$work/rootfs.tar.zst" "$tarball"
# Older tarballs (other keys) are dead weight.
for old in "$OUTDIR"/"$SUITE"-systemd-*.tar.zst; do
    [ "$old" = "$tarball" ] || rm -f "$old"
done
printf '%s\n' "$tarball"
