#!/usr/bin/env bash
# The Docker tier's offline preparation, called by .ci/run:
#   .ci/docker-setup.sh start   engine (install + start if unreachable), base image (debootstrap
#                               + docker import, cached), wheelhouse, consumer + MiniStack images
#   .ci/docker-setup.sh stop    remove kit-labelled containers; stop dockerd by PID if we started it
# Idempotent: a second `start` finds the engine, the image and the wheelhouse and only lets the
# layer cache confirm the images (seconds). Runs as root with no stdin.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
STATE_DIR=${SQSKIT_DOCKER_STATE_DIR:-/var/run/sqs-kit}
PIDFILE=$STATE_DIR/dockerd.pid
DOCKERD_LOG=$STATE_DIR/dockerd.log
ENGINE_WAIT_S=${SQSKIT_DOCKERD_WAIT_S:-60}
PY=${SQSKIT_SETUP_PYTHON:-.venv/bin/python}

say() { printf '[docker-setup %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# A process that exists and is not a zombie (a dead child stays a zombie until reaped).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

engine_up() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

our_dockerd_pid() {
  # The PID in our pidfile, only if that process is still a dockerd.
  [[ -f $PIDFILE ]] || return 1
  local pid
  pid=$(<"$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/comm ]] && [[ $(</proc/"$pid"/comm) == dockerd ]] \
    && echo "$pid"
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  say "apt-get install ${missing[*]}"
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_engine() {
  if engine_up; then
    say "docker engine reachable: $(docker info --format '{{.ServerVersion}}')"
    return
  fi
  local pkgs=()
  command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
  # dockerd needs apparmor_parser only where the kernel enforces AppArmor
  if [[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y ]] \
    && ! command -v apparmor_parser >/dev/null 2>&1; then
    pkgs+=(apparmor)
  fi
  ((${#pkgs[@]})) && apt_install "${pkgs[@]}"
  mkdir -p "$STATE_DIR"
  say "starting dockerd --bridge=none --iptables=false (log $DOCKERD_LOG)"
  rm -f "$PIDFILE"
  # setsid: dockerd outlives this script and is not in .ci/run's process group. dockerd writes
  # its own pidfile, so the PID we later stop is dockerd's, never a launcher's.
  setsid dockerd --bridge=none --iptables=false --pidfile "$PIDFILE" \
    >"$DOCKERD_LOG" 2>&1 </dev/null &
  local launcher=$! waited=0
  until engine_up; do
    # (setsid forks when it leads a process group: then the launcher exits at once and the
    # pidfile dockerd wrote is what shows it is alive)
    if ! alive "$launcher" && ! { [[ -s $PIDFILE ]] && alive "$(<"$PIDFILE")"; }; then
      say "dockerd exited during start-up; last log lines:"
      tail -n 20 "$DOCKERD_LOG" >&2
      exit 1
    fi
    if ((waited >= ENGINE_WAIT_S * 5)); then
      say "dockerd did not answer within ${ENGINE_WAIT_S}s"
      tail -n 20 "$DOCKERD_LOG" >&2
      exit 1
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  say "dockerd $(docker info --format '{{.ServerVersion}}') up (pid $(<"$PIDFILE"))"
}

ensure_compose() {
  # Compose v2 is not in bookworm; trixie's docker-compose package ships the v2 plugin (a static
  # Go binary). Fetch that one .deb from the Debian mirror apt already uses, with a private apt
  # state so the machine's sources stay untouched.
  if docker compose version >/dev/null 2>&1; then
    say "compose plugin present: $(docker compose version --short)"
    return
  fi
  local tmp mirror
  tmp=$(mktemp -d)
  # the first active (not commented) Debian URI, in one-line or deb822 format
  mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list 2>/dev/null | grep -E '^(URIs:|deb )' | grep -oE 'https?://[^ ]+' \
    | grep -E '/debian/?$' | head -n1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/} trixie main" \
    >"$tmp/trixie.list"
  local opts=(-o "Dir::Etc::sourcelist=$tmp/trixie.list" -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache")
  say "installing the compose v2 plugin from trixie's docker-compose package"
  apt-get "${opts[@]}" update -q >/dev/null 2>&1
  (cd "$tmp" && apt-get "${opts[@]}" download docker-compose >/dev/null 2>&1)
  dpkg-deb -x "$tmp"/docker-compose_*.deb "$tmp/x"
  install -D -m 0755 "$tmp/x/usr/libexec/docker/cli-plugins/docker-compose" \
    /usr/local/lib/docker/cli-plugins/docker-compose
  rm -rf "$tmp"
  say "compose plugin: $(docker compose version --short)"
}

ensure_venv() {
  # the build module lives in the kit; `make test` needs the same venv anyway
  [[ $PY == .venv/bin/python ]] || return 0
  mkdir -p "$STATE_DIR"
  if ! make --no-print-directory venv >"$STATE_DIR/venv.log" 2>&1; then
    tail -n 30 "$STATE_DIR/venv.log" >&2
    exit 1
  fi
}

start() {
  local t0=$SECONDS
  ensure_engine
  ensure_compose
  # debootstrap is needed only to build a missing base image (a cached tarball may spare it)
  if ! docker image inspect "${SQSKIT_BASE_IMAGE:-sqs-kit-base:trixie}" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  fi
  ensure_venv
  "$PY" -m local.docker build all
  say "ready in $((SECONDS - t0)) s"
}

stop() {
  if engine_up; then
    local leftovers
    leftovers=$(docker ps -aq --filter label=sqs-kit.managed=true || true)
    if [[ -n $leftovers ]]; then
      say "removing $(wc -w <<<"$leftovers") leftover kit container(s)"
      # shellcheck disable=SC2086
      docker rm -f $leftovers >/dev/null || true
    fi
  fi
  local pid
  if pid=$(our_dockerd_pid); then
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
      [[ -d /proc/$pid ]] || break
      sleep 0.2
    done
    if [[ -d /proc/$pid ]]; then
      say "dockerd still running after 20 s: SIGKILL"
      kill -KILL "$pid" || true
    fi
    rm -f "$PIDFILE"
  else
    say "dockerd was not started by this script: leaving it running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
