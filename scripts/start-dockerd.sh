#!/usr/bin/env bash
# Start a Docker engine in the background when none answers; do nothing when one does.
#
# Used by the test setup (scripts/test-setup.sh) on machines without an init
# system that runs dockerd for us (CI sandboxes, containers). Needs root.
# Installs the engine from the machine's configured Debian archive when it is
# missing. Idempotent: run it as often as you like.
#
#   scripts/start-dockerd.sh          # start (or confirm) the engine
#   scripts/start-dockerd.sh --stop   # stop the engine this script started
#
# Environment:
#   AISTACK_DOCKERD_LOG   dockerd's log file   (default /var/log/aistack-dockerd.log)
#   AISTACK_DOCKERD_WAIT  seconds to wait for the socket (default 60)
set -euo pipefail

LOG=${AISTACK_DOCKERD_LOG:-/var/log/aistack-dockerd.log}
WAIT=${AISTACK_DOCKERD_WAIT:-60}
SOCK=/var/run/docker.sock
PIDFILE=/var/run/docker.pid

say() { printf 'start-dockerd: %s\n' "$*" >&2; }

engine_answers() {
    # The engine's own ping endpoint, through the CLI that ships with it.
    timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

daemon_pid() {
    local pid
    [[ -r $PIDFILE ]] || return 1
    pid=$(<"$PIDFILE")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
    printf '%s\n' "$pid"
}

stop_engine() {
    local pid
    if ! pid=$(daemon_pid); then
        say "no dockerd running (no live pid in $PIDFILE)"
        return 0
    fi
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || { say "stopped"; return 0; }
        sleep 0.1
    done
    say "dockerd (pid $pid) did not stop within 30 s"
    return 1
}

if [[ ${1:-} == --stop ]]; then
    stop_engine
    exit $?
fi

if [[ $(id -u) -ne 0 ]]; then
    say "needs root (it may install and start the Docker engine)"
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    say "installing the Docker engine (docker.io) from the configured Debian archive"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
fi

if engine_answers; then
    say "engine already answering on $SOCK"
    exit 0
fi

# A dockerd that is alive but not answering yet (another run of this script
# just started it): wait for it instead of starting a second one.
if ! pid=$(daemon_pid); then
    mkdir -p "$(dirname "$LOG")"
    # A stale socket or pid file from a killed daemon would make dockerd refuse to start.
    rm -f "$PIDFILE"
    if [[ -S $SOCK ]]; then rm -f "$SOCK"; fi
    # containerd: Debian's dockerd starts its own managed containerd when
    # /run/containerd/containerd.sock is absent, so nothing to do for it here.
    say "starting dockerd (log: $LOG)"
    setsid nohup dockerd --pidfile "$PIDFILE" >>"$LOG" 2>&1 </dev/null &
    pid=$!
fi

for _ in $(seq 1 $((WAIT * 5))); do
    if engine_answers; then
        say "engine answering (dockerd pid $pid)"
        exit 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        say "dockerd exited; last lines of $LOG:"
        tail -n 20 "$LOG" >&2 || true
        exit 1
    fi
    sleep 0.2
done
say "dockerd (pid $pid) did not answer within ${WAIT}s; last lines of $LOG:"
tail -n 20 "$LOG" >&2 || true
exit 1
