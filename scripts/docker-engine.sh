#!/usr/bin/env bash
# A Docker engine for `make up RUNTIME=docker`, the compose tests and CI, on a Debian machine where
# nothing starts one: `ensure` installs docker.io, docker-compose (v1) and debootstrap when missing (as
# root) and starts dockerd when `docker info` does not answer, remembering its PID; `stop` stops only
# an engine this script started. Idempotent both ways.
#   scripts/docker-engine.sh ensure|stop|status
set -euo pipefail
cd "$(dirname "$0")/.."
state=.stack/docker-engine
pidfile=$state/dockerd.pid
log=$state/dockerd.log

answers() { timeout 10 docker info >/dev/null 2>&1; }

ensure() {
  if answers; then echo "docker engine: answering"; return; fi
  if ! command -v dockerd >/dev/null || ! command -v docker-compose >/dev/null || ! command -v debootstrap >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "docker engine: not installed, and installing it needs root (apt-get install docker.io docker-compose debootstrap)" >&2; exit 1; }
    echo "docker engine: installing docker.io, docker-compose, debootstrap from Debian"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null
  fi
  [ "$(id -u)" = 0 ] || { echo "docker engine: installed but not running; start dockerd as root" >&2; exit 1; }
  mkdir -p "$state"
  echo "docker engine: starting dockerd (log $log)"
  # setsid: the engine outlives the shell that started it, and is stopped by `stop`, by PID.
  setsid /usr/sbin/dockerd >"$log" 2>&1 < /dev/null &
  echo $! >"$pidfile"
  for _ in $(seq 1 60); do
    if answers; then echo "docker engine: answering (pid $(cat "$pidfile"))"; return; fi
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "docker engine: dockerd exited; see $log" >&2; tail -5 "$log" >&2; exit 1; }
    sleep 1
  done
  echo "docker engine: dockerd did not answer within 60 s; see $log" >&2
  exit 1
}

stop() {
  [ -f "$pidfile" ] || { echo "docker engine: not started by this script; left alone"; return; }
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "docker engine: stopped (pid $pid)"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  ensure) ensure ;;
  stop) stop ;;
  status) if answers; then echo "docker engine: answering"; else echo "docker engine: not answering"; exit 1; fi ;;
  *) echo "usage: $0 ensure|stop|status" >&2; exit 2 ;;
esac
