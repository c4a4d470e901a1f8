#!/usr/bin/env bash
# Stop the dockerd and the registry that ci/engine-up.sh started (for developers).
# Only the processes named in the pid files under $AZDEPLOY_CI_DIR (default
# /opt/azdeploy-ci) are stopped, and only if they still run the expected program.
# Installed packages, images, the registry's data and binfmt are left as they are.
set -euo pipefail

CI_DIR="${AZDEPLOY_CI_DIR:-/opt/azdeploy-ci}"

# Alive = exists and is not a zombie (PID 1 here may leave killed daemons <defunct>).
alive() {
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

stop() { # pidfile expected-comm
    local pidfile=$1 comm=$2 pid
    if [ ! -s "$pidfile" ]; then
        echo "engine-down: no $pidfile; $comm not started by engine-up.sh"
        return 0
    fi
    pid=$(cat "$pidfile")
    if ! alive "$pid" || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$comm" ]; then
        echo "engine-down: $comm (pid $pid) no longer runs"
        rm -f "$pidfile"
        return 0
    fi
    echo "engine-down: stopping $comm (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 40); do
        alive "$pid" || break
        sleep 0.5
    done
    if alive "$pid"; then
        echo "engine-down: $comm (pid $pid) ignored SIGTERM for 20 s; sending SIGKILL"
        kill -KILL "$pid" || true
    fi
    rm -f "$pidfile"
}

stop "$CI_DIR/registry.pid" docker-registry
# The anonymous-pull registry of the Python base images (ci/python-images.sh).
bash "$(dirname "$0")/python-images.sh" --stop || true
# dockerd stops the containerd it started itself; running containers are stopped.
stop "$CI_DIR/dockerd.pid" dockerd
