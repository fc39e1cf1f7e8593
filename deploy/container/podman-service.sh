#!/usr/bin/env bash
# Starts or stops podman's Docker-compatible API service for Testcontainers (it-tests).
#
#   deploy/container/podman-service.sh start DIR   # socket DIR/podman.sock, PID in DIR/podman.pid
#   deploy/container/podman-service.sh stop DIR    # stops that PID, removes the tests' containers
#
# start reuses a service that already answers on DIR/podman.sock. It writes DIR/containers.conf
# (runc, and ulimits within the host's hard open-files limit: crun and podman's default ulimits
# fail on hosts of this kind) and runs the service with CONTAINERS_CONF pointing at it; the tests
# use the same file (it-tests/pom.xml). The service exits by itself after 30 idle minutes, so a
# run that dies before `stop` leaves nothing behind for long. Tests then use
# DOCKER_HOST=unix://DIR/podman.sock TESTCONTAINERS_RYUK_DISABLED=true
# TESTCONTAINERS_HOST_OVERRIDE=localhost.
set -euo pipefail
cmd="${1:-}"
dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
sock="$dir/podman.sock"
pidfile="$dir/podman.pid"

answers() { curl -sf --max-time 5 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }

case "$cmd" in
  start)
    command -v podman >/dev/null || { echo "podman-service.sh: podman is not installed" >&2; exit 1; }
    nofile="$(ulimit -Hn)"; [ "$nofile" = unlimited ] && nofile=1048576
    cat >"$dir/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
    if answers; then
      echo "podman-service.sh: reusing the service on $sock" >&2
      exit 0
    fi
    rm -f "$sock"
    CONTAINERS_CONF="$dir/containers.conf" setsid podman system service --time=1800 "unix://$sock" \
      >"$dir/service.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      answers && { echo "podman-service.sh: started (PID $(cat "$pidfile")) on $sock" >&2; exit 0; }
      kill -0 "$(cat "$pidfile")" 2>/dev/null || break
      sleep 0.1
    done
    echo "podman-service.sh: the API service did not answer on $sock; its log:" >&2
    cat "$dir/service.log" >&2 || true
    exit 1
    ;;
  stop)
    # Containers of a test JVM that died (Ryuk is off): only ours, by label.
    ids="$(CONTAINERS_CONF="$dir/containers.conf" podman ps -aq --filter label=dev.halley.it=true 2>/dev/null || true)"
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      CONTAINERS_CONF="$dir/containers.conf" podman rm -f $ids >/dev/null 2>&1 || true
    fi
    if [ -f "$pidfile" ]; then
      pid="$(cat "$pidfile")"
      if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
      fi
      rm -f "$pidfile"
      echo "podman-service.sh: stopped PID $pid" >&2
    fi
    rm -f "$sock"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
