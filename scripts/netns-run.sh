#!/usr/bin/env bash
# Usage: scripts/netns-run.sh NAME command...   Runs command inside network namespace NAME (created on first use),
# with 127.0.0.1:5432 (PostgreSQL) and 127.0.0.1:6379 (Redis) forwarded to the host's via unix sockets,
# so test runs that use fixed ports (SIP 5060, the HTTP test servers) can run side by side on one machine.
# Needs root (ip netns) and socat.
set -euo pipefail
NAME="$1"; shift
D=/tmp/netns-run; mkdir -p "$D"
if ! ip netns list | grep -qw "$NAME"; then
  ip netns add "$NAME"
  ip netns exec "$NAME" ip link set lo up
fi
for port in 5432 6379; do
  sock="$D/host-$port.sock"
  if ! pgrep -f "socat UNIX-LISTEN:$sock" >/dev/null; then
    rm -f "$sock"
    setsid socat UNIX-LISTEN:"$sock",fork,mode=777 TCP:127.0.0.1:$port </dev/null >/dev/null 2>&1 &
  fi
  if ! pgrep -f "socat-ns-$NAME-$port" >/dev/null; then
    setsid ip netns exec "$NAME" bash -c "exec -a socat-ns-$NAME-$port socat TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:$sock" </dev/null >/dev/null 2>&1 &
  fi
done
sleep 0.5
exec ip netns exec "$NAME" "$@"
