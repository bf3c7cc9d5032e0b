#!/usr/bin/env bash
# Build (once) the container images the docker and installer test tiers use.
# No registry is reachable from the test machines, so nothing is pulled:
#
#   aistack-test/debian:bookworm        minimal Debian rootfs (debootstrap, docker import)
#   aistack-test/llama-server:cpu       the test llama-server at /app/llama-server,
#                                       shaped like the official llama.cpp server image
#   aistack-test/debian-python:bookworm python3, venv, pip, ca-certificates (installer tests)
#
# Usage: scripts/test-images.sh [--force]
#
# Idempotent and cached: the rootfs tarball lives under $AISTACK_TEST_CACHE
# (default ~/.cache/aistack-test); an image is rebuilt only when missing or
# when its input changed (rootfs tarball, llama-server binary, Dockerfile),
# which labels on the images record. Needs root and a running engine
# (scripts/start-dockerd.sh starts one). The Debian mirror is read from this
# machine's own apt configuration at run time (or AISTACK_TEST_MIRROR).
#
# Environment:
#   AISTACK_TEST_CACHE         cache dir (default ~/.cache/aistack-test)
#   AISTACK_TEST_LLAMA_SERVER  llama-server binary (default $AISTACK_TEST_CACHE/bin/llama-server)
#   AISTACK_TEST_MIRROR        Debian mirror URL (default: from /etc/apt)
set -euo pipefail

SUITE=bookworm
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${AISTACK_TEST_CACHE:-$HOME/.cache/aistack-test}
LLAMA_SERVER=${AISTACK_TEST_LLAMA_SERVER:-$CACHE/bin/llama-server}
BASE_IMAGE=aistack-test/debian:$SUITE
SERVER_IMAGE=aistack-test/llama-server:cpu
PYTHON_IMAGE=aistack-test/debian-python:$SUITE
# The legacy builder: the engine from Debian's docker.io has no buildx plugin,
# and the legacy builder honours --network host for the apt step.
export DOCKER_BUILDKIT=0

force=0
[[ ${1:-} == --force ]] && force=1

log() { printf 'test-images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap creates device nodes and chowns files)"
command -v docker >/dev/null 2>&1 || die "no docker CLI: run scripts/start-dockerd.sh first (it installs the engine)"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    die "no Docker engine answers: run scripts/start-dockerd.sh first"

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
fi

# label IMAGE KEY -> the label's value, empty when the image or label is missing
label() {
    docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

# --- the Debian mirror this machine already uses (never hard-coded) ----------
# shellcheck source=scripts/lib/debian-mirror.sh
. "$HERE/lib/debian-mirror.sh"
find_mirror() {
    local m
    m=$(debian_mirror "$SUITE")
    [[ -n $m ]] || die "no apt source for '$SUITE' in /etc/apt; set AISTACK_TEST_MIRROR to a Debian mirror URL"
    printf '%s\n' "$m"
}

# --- 1. the rootfs tarball (cached) -----------------------------------------
mkdir -p "$CACHE/images"
tarball=$CACHE/images/debian-$SUITE-minbase.tar.gz
if [[ $force -eq 1 || ! -s $tarball ]]; then
    mirror=$(find_mirror)
    work=$(mktemp -d "$CACHE/images/.build.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    log "debootstrap $SUITE (minbase) from the configured mirror"
    if ! debootstrap --variant=minbase "$SUITE" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1; then
        tail -n 30 "$work/debootstrap.log" >&2
        die "debootstrap failed (log above)"
    fi
    chroot "$work/root" apt-get clean
    rm -rf "$work/root"/var/lib/apt/lists/* "$work/root"/var/cache/apt/*.bin "$work/root"/var/log/*.log
    tar -C "$work/root" --numeric-owner -czf "$work/rootfs.tar.gz" .
    mv -f "$work/rootfs.tar.gz" "$tarball"
    rm -rf "$work"
    trap - EXIT
fi
rootfs_sha=$(sha256sum "$tarball" | cut -c1-16)

# --- 2. docker import -> aistack-test/debian:bookworm ------------------------
if [[ $force -eq 1 || $(label "$BASE_IMAGE" io.aistack.test.rootfs) != "$rootfs_sha" ]]; then
    log "importing $BASE_IMAGE"
    docker import \
        --change "LABEL io.aistack.test.rootfs=$rootfs_sha" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' \
        "$tarball" "$BASE_IMAGE" >/dev/null
fi
base_id=$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE")

# build NAME DOCKERFILE KEY CONTEXT [docker build args...]: rebuild when KEY changed
build() {
    local name=$1 dockerfile=$2 key=$3 context=$4
    shift 4
    if [[ $force -eq 0 && $(label "$name" io.aistack.test.key) == "$key" ]]; then
        log "$name is up to date"
        return 0
    fi
    log "building $name"
    docker build -q -f "$dockerfile" -t "$name" --label "io.aistack.test.key=$key" \
        --build-arg "BASE=$BASE_IMAGE" "$@" "$context" >/dev/null
}

# --- 3. aistack-test/llama-server:cpu ----------------------------------------
[[ -x $LLAMA_SERVER ]] || die "no llama-server at $LLAMA_SERVER (set AISTACK_TEST_LLAMA_SERVER, or build it with scripts/test-setup.sh)"
server_sha=$(sha256sum "$LLAMA_SERVER" | cut -d' ' -f1)
server_df=$HERE/images/llama-server.Dockerfile
server_key=$(printf '%s %s %s\n' "$base_id" "$server_sha" "$(sha256sum <"$server_df")" | sha256sum | cut -c1-16)
if [[ $force -eq 1 || $(label "$SERVER_IMAGE" io.aistack.test.key) != "$server_key" ]]; then
    ctx=$(mktemp -d)
    trap 'rm -rf "$ctx"' EXIT
    cp "$LLAMA_SERVER" "$ctx/llama-server"
    build "$SERVER_IMAGE" "$server_df" "$server_key" "$ctx" --build-arg "LLAMA_SERVER_SHA256=$server_sha"
    rm -rf "$ctx"
    trap - EXIT
else
    log "$SERVER_IMAGE is up to date"
fi

# --- 4. aistack-test/debian-python:bookworm ----------------------------------
python_df=$HERE/images/debian-python.Dockerfile
python_key=$(printf '%s %s\n' "$base_id" "$(sha256sum <"$python_df")" | sha256sum | cut -c1-16)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
build "$PYTHON_IMAGE" "$python_df" "$python_key" "$ctx" --network host
rm -rf "$ctx"
trap - EXIT

docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^aistack-test/' >&2 || true
