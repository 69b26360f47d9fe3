#!/usr/bin/env bash
# Makes this Debian machine ready to run the platform, and is quick when it already is:
# npm packages, Redis, Postgres (role, database, migrations), the host's task limit, dockerd with gVisor, the
# sandbox image and the repository's environments (environments/).
# Everything is installed from Debian packages and the npm registry; every step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

state=/var/lib/mission-control
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
say() { echo "bootstrap: $*" >&2; }

install_npm_packages() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages"
    # `npm install`, not `npm ci`: npm 11 leaves msgpackr's platform-specific optional packages out of the
    # lock file and then refuses `npm ci` over them. With the lock file present, install follows it all the same.
    npm install --no-audit --no-fund --loglevel=error
  fi
}

install_debian_packages() {
  local wanted=(redis-server postgresql pgbouncer haproxy docker.io runsc debootstrap curl gcc libc6-dev prometheus chromium stress-ng) missing=()
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start_redis() {
  redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping >/dev/null 2>&1 && return
  say "starting redis on $REDIS_HOST:$REDIS_PORT"
  $sudo mkdir -p "$state/redis"
  $sudo redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" --dir "$state/redis" \
    --appendonly yes --maxmemory-policy noeviction --logfile "$state/redis/redis.log" --save ''
  for _ in $(seq 50); do redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.1; done
  say "redis did not answer; see $state/redis/redis.log"; exit 1
}

start_postgres() {
  local version
  version=$(pg_lsclusters -h | awk '$2 == "main" {print $1; exit}')
  [ -n "$version" ] || { say "no postgres cluster named main"; exit 1; }
  if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q online; then
    say "starting postgres $version"
    $sudo pg_ctlcluster "$version" main start
  fi
  local psql=($sudo runuser -u postgres -- psql -v ON_ERROR_STOP=1 -qtA -p "$PGPORT")
  if [ "$("${psql[@]}" -c "select 1 from pg_roles where rolname = '$PGUSER'")" != 1 ]; then
    say "creating role $PGUSER"
    "${psql[@]}" -c "create role \"$PGUSER\" login password '$PGPASSWORD'"
  fi
  if [ "$("${psql[@]}" -c "select 1 from pg_database where datname = '$PGDATABASE'")" != 1 ]; then
    say "creating database $PGDATABASE"
    "${psql[@]}" -c "create database \"$PGDATABASE\" owner \"$PGUSER\""
  fi
}

docker_ready() { curl -sf --max-time 5 --unix-socket /var/run/docker.sock http://docker/_ping >/dev/null 2>&1; }

start_dockerd() {
  # A test that froze the daemon (SIGSTOP) and died before letting it go on leaves it hanging every call.
  [ -f /var/run/docker.pid ] && $sudo kill -CONT "$(cat /var/run/docker.pid)" 2>/dev/null || true
  if ! docker_ready; then
    say "starting dockerd (gVisor runtime registered, no bridge network)"
    # A session that was killed leaves pid files behind, and dockerd refuses to start over them.
    $sudo rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
    $sudo mkdir -p "$state"
    printf '{"bridge":"none","iptables":false,"runtimes":{"runsc":{"path":"%s","runtimeArgs":["--network=none"]}}}\n' \
      "$(command -v runsc)" | $sudo tee "$state/dockerd.json" >/dev/null
    $sudo sh -c "nohup dockerd --config-file '$state/dockerd.json' >'$state/dockerd.log' 2>&1 &"
    for _ in $(seq 150); do docker_ready && break; sleep 0.2; done
    docker_ready || { say "dockerd did not start; see $state/dockerd.log"; exit 1; }
  fi
  if ! curl -sf --max-time 10 --unix-socket /var/run/docker.sock http://docker/info | grep -q "\"$SANDBOX_RUNTIME\""; then
    say "dockerd is running without the $SANDBOX_RUNTIME runtime; stop it and run this again"; exit 1
  fi
}

# Every sandbox is about 50 threads, each a task counted against kernel.pid_max: Debian's 32,768 holds about 600
# sandboxes, and past it every fork on the host fails. Raised to the kernel's most (workers still bound their
# sandboxes by the host's free threads and memory: sandbox/hostCapacity.ts).
raise_task_limit() {
  local wanted=4194304
  [ "$(cat /proc/sys/kernel/pid_max)" -ge "$wanted" ] && return
  say "raising kernel.pid_max to $wanted (sandboxes are about 50 threads each)"
  $sudo sysctl -qw kernel.pid_max="$wanted" || say "could not raise kernel.pid_max: this host holds about 600 sandboxes at once"
}

# The mirror comes from this machine's own apt configuration, never from the repository.
debian_mirror() {
  apt-cache policy | awk '$3 ~ /^bookworm\/main$/ {print $2; exit}'
}

build_sandbox_image() {
  [[ "$SANDBOX_IMAGE" == mission-sandbox:* ]] || return 0
  $sudo docker image inspect "$SANDBOX_IMAGE" >/dev/null 2>&1 && return
  local mirror rootfs
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || { say "no Debian bookworm mirror in the apt configuration"; exit 1; }
  rootfs=$(mktemp -d)
  trap '$sudo rm -rf "$rootfs"' RETURN
  say "building $SANDBOX_IMAGE from Debian packages (a minute or two, once)"
  $sudo bash sandbox/image/recipe.sh "$rootfs" "$mirror" >"$state/image-build.log" 2>&1 \
    || { say "image build failed; see $state/image-build.log"; exit 1; }
  $sudo tar -C "$rootfs" -c . | $sudo docker import \
    --change 'USER 1000:1000' --change 'WORKDIR /workspace' --change 'CMD ["/bin/sh"]' - "$SANDBOX_IMAGE" >/dev/null
}

install_npm_packages
install_debian_packages
eval "$(node_modules/.bin/tsx scripts/config-env.ts)"
start_redis
start_postgres
raise_task_limit
start_dockerd
build_sandbox_image
node_modules/.bin/tsx scripts/buildEnvironments.ts
node_modules/.bin/tsx scripts/migrate.ts
say "ready"
