#!/bin/sh
# Make the files of a release, for the curl one-liner:
#
#   scripts/release.sh DIST BASE_URL
#
# writes into DIST
#   aistack-<version>-py3-none-any.whl        the wheel (pip wheel --no-deps)
#   aistack-<version>-requirements.lock       requirements.lock, hash-locked dependencies
#   install.sh                                this checkout's install.sh with the release
#                                             pins filled in: version, BASE_URL, and the
#                                             sha256 of the wheel and of the lock
#   SHA256SUMS
# Publish DIST at BASE_URL; users then run
#   curl -fsSL BASE_URL/install.sh | sh -s -- --up
# and install.sh refuses any wheel or lock whose sha256 differs from its pins.
set -eu

[ $# -eq 2 ] || { echo "usage: scripts/release.sh DIST BASE_URL" >&2; exit 2; }
dist=$1
base=${2%/}
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/pyproject.toml" | head -n 1)
mkdir -p "$dist"
rm -f "$dist"/aistack-*.whl

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=${PYTHON:-python3}
if ! "$py" -m pip --version >/dev/null 2>&1; then
    "$py" -m venv "$tmp/venv"
    py=$tmp/venv/bin/python
fi
mkdir -p "$tmp/src"
for f in pyproject.toml README.md LICENSE aistack recipes systemd; do
    if [ -e "$root/$f" ]; then cp -R "$root/$f" "$tmp/src/"; fi
done
"$py" -m pip --disable-pip-version-check -q wheel --no-deps -w "$dist" "$tmp/src"
wheel=$dist/aistack-$version-py3-none-any.whl
lock=$dist/aistack-$version-requirements.lock
cp "$root/requirements.lock" "$lock"

sha() { "$py" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"; }
wsha=$(sha "$wheel")
lsha=$(sha "$lock")
sed -e "s|^\( *AI_VERSION=\)\"[^\"]*\"|\1\"$version\"|" \
    -e "s|^\( *AI_RELEASE_URL=\)\"[^\"]*\"|\1\"$base\"|" \
    -e "s|^\( *AI_RELEASE_WHEEL_SHA256=\)\"[^\"]*\"|\1\"$wsha\"|" \
    -e "s|^\( *AI_RELEASE_LOCK_SHA256=\)\"[^\"]*\"|\1\"$lsha\"|" \
    "$root/install.sh" >"$dist/install.sh"
grep -q "AI_RELEASE_WHEEL_SHA256=\"$wsha\"" "$dist/install.sh" || { echo "release.sh: could not pin install.sh" >&2; exit 1; }
(cd "$dist" && for f in aistack-"$version"-py3-none-any.whl aistack-"$version"-requirements.lock install.sh; do
    printf '%s  %s\n' "$(sha "$f")" "$f"
done >SHA256SUMS)
echo "release.sh: $dist ready for $base (wheel sha256 $wsha)"
