#!/usr/bin/env bash
# Installs Debian packages with apt, only those missing. The lists of what the tests, the demo and the
# benchmark need live in test/servers/system-packages.ts, which calls this script.
# Usage: scripts/ensure-packages.sh package [package ...]
set -euo pipefail
if [ $# -eq 0 ]; then echo "usage: $0 package [package ...]" >&2; exit 2; fi
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
echo "installing with apt: ${missing[*]}"
# Wait for dpkg's lock rather than fail when another install (another test run, unattended-upgrades) holds it.
apt=(-o DPkg::Lock::Timeout=300)
$SUDO apt-get "${apt[@]}" update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian may start a package's service on install; the project starts its own instances on loopback.
# Stop only those services, through their init scripts (never pkill: a user's ssh sessions or another
# test's sshd fleet must survive). graphite-carbon enables carbon-cache.service and starts it on systemd
# machines (its init script only runs with CARBON_CACHE_ENABLED=true in /etc/default/graphite-carbon); php8.2-fpm
# starts its service on install (the recipe tests start their own PHP-FPM as the fleet's user).
for svc in prometheus prometheus-alertmanager nagios4 prometheus-node-exporter nginx haproxy ssh carbon-cache php8.2-fpm; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$svc" ]; then
    $SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
  fi
done
