#!/usr/bin/env bash
# `npm run observe`: Debian's Prometheus (installed when missing) scraping the local API and worker with the
# repository's configuration and alert rules (grafana/prometheus.yml, grafana/alerts.yml), in the foreground.
# Its UI is at http://127.0.0.1:9090 (Graph, Alerts); stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
if ! command -v prometheus >/dev/null; then
  echo "observe: installing prometheus" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
data=/var/lib/mission-control/prometheus
$sudo mkdir -p "$data"
promtool check config grafana/prometheus.yml >&2
echo "observe: prometheus on http://127.0.0.1:9090, scraping the API on :3000 and a worker on :9464" >&2
exec prometheus --config.file=grafana/prometheus.yml --storage.tsdb.path="$data" --web.listen-address=127.0.0.1:9090
