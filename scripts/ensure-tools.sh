#!/usr/bin/env bash
# Install the Debian packages the tests and the demo need when they are missing:
# SIPp (an independent SIP peer), Kamailio and baresip (a real carrier and phone), eSpeak NG and Flite (the far
# end's voices; Flite's are voices the answering-machine detector was not tuned on), Chromium (the browser tests),
# PostgreSQL and Redis (the ledger and the admission gate). Idempotent: a machine that has them all
# runs no apt command at all.
set -euo pipefail

need_apt=()
command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v flite >/dev/null 2>&1 || need_apt+=(flite)
command -v kamailio >/dev/null 2>&1 || need_apt+=(kamailio)
command -v baresip >/dev/null 2>&1 || need_apt+=(baresip)
command -v pg_isready >/dev/null 2>&1 || need_apt+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)

if [ ${#need_apt[@]} -eq 0 ]; then
  exit 0
fi

echo "Installing Debian packages: ${need_apt[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "These Debian packages are missing and this user cannot install them: ${need_apt[*]}" >&2
    echo "Run as root: apt-get update && apt-get install -y --no-install-recommends ${need_apt[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
