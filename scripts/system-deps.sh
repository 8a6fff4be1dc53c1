#!/usr/bin/env bash
# Installs the Debian packages the tests need (real servers and a real browser).
# Used by `make test` and `.ci/run`. As root it installs what is missing; otherwise it
# only says what is missing, and the tests that need it skip (or fail under CI=true).
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [[ -x /usr/sbin/mosquitto ]] || need+=(mosquitto)
command -v mosquitto_passwd >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[[ -e /usr/share/zoneinfo/Europe/Amsterdam ]] || need+=(tzdata)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# systemd-analyze verify checks the units in deploy/ (nothing is started).
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# PostgreSQL's server binaries live under /usr/lib/postgresql/<version>/bin on Debian.
# Time-series engines: InfluxDB 1.x (v1 API, InfluxQL) and victoria-metrics (v2 write API).
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
command -v victoria-metrics >/dev/null 2>&1 || need+=(victoria-metrics)
command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null ||
  need+=(postgresql)

if ((${#need[@]} == 0)); then
  exit 0
fi
# mosquitto_passwd ships in the mosquitto package itself on Debian bookworm.
if [[ " ${need[*]} " == *" mosquitto "* ]]; then
  need=("${need[@]/mosquitto-clients}")
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2068
  apt-get install -y -qq --no-install-recommends ${need[@]} >/dev/null
else
  echo "system-deps: missing ${need[*]}; install them (apt-get install ${need[*]}) or the tests that need them skip" >&2
fi
