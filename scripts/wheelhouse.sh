#!/bin/sh
# Make a directory of every wheel install.sh needs, for machines without
# internet (install.sh --wheels DIR): aistack's own wheel, built from this
# checkout, plus the runtime dependencies exactly as requirements.lock pins
# them (downloaded with --require-hashes, so every file is checked here too).
#
#   scripts/wheelhouse.sh DIR [pip download options]
#
# By default it downloads for the Python and platform running it. For another
# target pass pip's own options, e.g.
#   scripts/wheelhouse.sh DIR --python-version 3.10 --platform manylinux2014_aarch64 --only-binary=:all:
# AISTACK_WHEEL=path uses an existing aistack wheel (a release's) instead of building one.
# Idempotent: files already in DIR are kept; the aistack wheel is replaced.
set -eu

[ $# -ge 1 ] || { echo "usage: scripts/wheelhouse.sh DIR [pip download options]" >&2; exit 2; }
out=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/pyproject.toml" | head -n 1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A pip that installs nothing into the system: downloads and builds only.
py=${PYTHON:-python3}
if ! "$py" -m pip --version >/dev/null 2>&1; then
    "$py" -m venv "$tmp/venv"
    py=$tmp/venv/bin/python
fi
pip() { "$py" -m pip --disable-pip-version-check --no-input -q "$@"; }

mkdir -p "$out"
rm -f "$out"/aistack-*.whl
if [ -n "${AISTACK_WHEEL:-}" ]; then
    cp "$AISTACK_WHEEL" "$out/"
else
    # Build from a copy: in-tree builds leave build/ behind, and the checkout may be read-only.
    mkdir -p "$tmp/src"
    for f in pyproject.toml README.md LICENSE aistack recipes systemd; do
        if [ -e "$root/$f" ]; then cp -R "$root/$f" "$tmp/src/"; fi
    done
    pip wheel --no-deps -w "$out" "$tmp/src"
fi
pip download --no-deps --require-hashes -r "$root/requirements.lock" -d "$out" "$@"
cp "$root/requirements.lock" "$out/requirements.lock"
cp "$root/requirements.lock" "$out/aistack-$version-requirements.lock"
(cd "$out" && "$py" -c '
import hashlib, os
for name in sorted(os.listdir(".")):
    if name != "SHA256SUMS" and os.path.isfile(name):
        print(hashlib.sha256(open(name, "rb").read()).hexdigest() + "  " + name)
' >SHA256SUMS)
echo "$out"
