#!/usr/bin/env bash
# The README's test command (command two) and what .ci/run calls: prepare the
# machine (scripts/test-setup.sh, cached), then run pytest over every tier —
# fast, integration, docker, systemd and installer.
#
#   scripts/test.sh                      everything
#   scripts/test.sh -m "not docker"      extra arguments go to pytest unchanged
#   scripts/test.sh tests/plan -x
#
# Exit status is pytest's, except that "no tests collected" (pytest's 5) is
# reported as a failure with its own message rather than passing silently.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${AISTACK_TEST_CACHE:-$HOME/.cache/aistack-test}
VENV=${AISTACK_TEST_VENV:-$ROOT/.venv}

say() { printf 'test.sh: %s\n' "$*" >&2; }

t0=$(date +%s)

# A Docker engine this run starts is stopped again when it ends; one that was
# already answering (a developer's own) is left alone.
if ! timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && [[ -f $ROOT/scripts/start-dockerd.sh ]]; then
    trap 'bash "$ROOT/scripts/start-dockerd.sh" --stop || true' EXIT
fi

"$ROOT/scripts/test-setup.sh"
# shellcheck source=/dev/null
source "$CACHE/test.env"

cd "$ROOT"
say "pytest $*"
set +e
"$VENV/bin/python" -m pytest "$@"
rc=$?
set -e

if [[ $rc -eq 5 ]]; then
    say "pytest collected no tests (exit 5) for: ${*:-<all tiers>} — counted as a failure"
fi
say "finished in $(($(date +%s) - t0))s with exit status $rc"
exit "$rc"
