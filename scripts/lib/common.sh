# Sourced by every entry point in scripts/: the small helpers they share, each written once.

# Runs a command as root: directly when we are root (CI), through sudo otherwise.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# A free loopback TCP port: bound by the OS, then released.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Waits until GET $1 answers 2xx, trying $2 times (default 200) every $3 seconds (default 0.05).
# Returns 1 if it never does.
wait_for_url() {
  local url=$1 tries=${2:-200} pause=${3:-0.05}
  for _ in $(seq 1 "$tries"); do
    curl -sf -o /dev/null "$url" && return 0
    sleep "$pause"
  done
  return 1
}
