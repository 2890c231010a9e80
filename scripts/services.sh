#!/usr/bin/env bash
# Brings up the servers the store and browser tests use, and exports their URLs.
# Source it (`source scripts/services.sh`) or run it; it is idempotent.
#   PostgreSQL 127.0.0.1:5432, MariaDB 127.0.0.1:3306, Redis 127.0.0.1:6379: the machine's
#     own services, started if they are down.
#   A 3-node Redis Cluster on 127.0.0.1:7001-7003 (redis-server --cluster-enabled yes).
#   MongoDB-compatible jongodb on 127.0.0.1:27999, from the npm package
#     @jongodb/memory-server-bin-linux-x64-gnu (no MongoDB server is packaged for Debian).
#   Chromium and ChromeDriver (Debian packages) for the browser test of the demo.
set -uo pipefail

svc_log() { printf '[services] %s\n' "$*" >&2; }
svc_fail() { svc_log "FAILED: $*"; return 1; }

wait_for() { # wait_for NAME SECONDS CMD...
  local name=$1 secs=$2; shift 2
  for _ in $(seq 1 "$secs"); do "$@" >/dev/null 2>&1 && { svc_log "$name is up"; return 0; }; sleep 1; done
  svc_fail "$name did not come up"
}

ensure_postgres() {
  pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && { svc_log "PostgreSQL is up"; return 0; }
  svc_log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  wait_for PostgreSQL 30 pg_isready -h 127.0.0.1 -p 5432
}

ensure_mariadb() {
  mysqladmin -h 127.0.0.1 -uroot ping >/dev/null 2>&1 && { svc_log "MariaDB is up"; return 0; }
  svc_log "starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  wait_for MariaDB 30 mysqladmin -h 127.0.0.1 -uroot ping
}

ensure_redis() {
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && { svc_log "Redis is up"; return 0; }
  svc_log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  wait_for Redis 20 redis-cli -h 127.0.0.1 -p 6379 ping
}

# A 3-node Redis Cluster on 127.0.0.1:7001-7003 (masters only), for the Redis Cluster
# conformance run. Idempotent: nodes already up are kept; the cluster is created once.
REDIS_CLUSTER_PORTS=(7001 7002 7003)
REDIS_CLUSTER_DIR=${REDIS_CLUSTER_DIR:-/tmp/wechat-oauth-redis-cluster}

redis_cluster_ok() {
  redis-cli -h 127.0.0.1 -p "${REDIS_CLUSTER_PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'
}

ensure_redis_cluster() {
  if redis_cluster_ok; then svc_log "Redis Cluster is up"; return 0; fi
  local port
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && continue
    mkdir -p "$REDIS_CLUSTER_DIR/$port"
    svc_log "starting Redis Cluster node 127.0.0.1:$port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
      --cluster-config-file "$REDIS_CLUSTER_DIR/$port/nodes.conf" --cluster-node-timeout 5000 \
      --save "" --appendonly no --dir "$REDIS_CLUSTER_DIR/$port" \
      --logfile "$REDIS_CLUSTER_DIR/$port/redis.log" || true
    wait_for "Redis Cluster node $port" 20 redis-cli -h 127.0.0.1 -p "$port" ping || return 1
  done
  # Nodes that know no peers yet form the cluster; a node already in one answers
  # cluster_known_nodes > 1 and the create step is skipped.
  if redis-cli -h 127.0.0.1 -p "${REDIS_CLUSTER_PORTS[0]}" cluster info | grep -q '^cluster_known_nodes:1'; then
    svc_log "creating the Redis Cluster"
    redis-cli --cluster create 127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003 --cluster-yes >/dev/null || return 1
  fi
  wait_for "Redis Cluster" 30 redis_cluster_ok
}

JONGODB_VERSION=0.1.6
JONGODB_DIR=${JONGODB_DIR:-$HOME/.cache/wechat-oauth/jongodb-$JONGODB_VERSION}
JONGODB_PORT=${JONGODB_PORT:-27999}

mongo_up() { (exec 3<>"/dev/tcp/127.0.0.1/$JONGODB_PORT") 2>/dev/null; }

ensure_mongodb() {
  if mongo_up; then svc_log "MongoDB (jongodb) is up"; return 0; fi
  if [ ! -x "$JONGODB_DIR/package/bin/jongodb" ]; then
    svc_log "installing jongodb $JONGODB_VERSION from npm"
    mkdir -p "$JONGODB_DIR"
    (cd "$JONGODB_DIR" && npm pack --silent "@jongodb/memory-server-bin-linux-x64-gnu@$JONGODB_VERSION" >/dev/null \
      && tar xzf jongodb-memory-server-bin-linux-x64-gnu-$JONGODB_VERSION.tgz) || return 1
  fi
  svc_log "starting jongodb on 127.0.0.1:$JONGODB_PORT"
  nohup "$JONGODB_DIR/package/bin/jongodb" --host=127.0.0.1 --port="$JONGODB_PORT" >/tmp/jongodb.log 2>&1 &
  wait_for MongoDB 30 mongo_up
}

ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    svc_log "Chromium and ChromeDriver are installed"; return 0
  fi
  svc_log "installing chromium and chromium-driver"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/tmp/apt-chromium.log 2>&1 \
    || svc_fail "could not install chromium (see /tmp/apt-chromium.log)"
}

svc_status=0
ensure_postgres || svc_status=1
ensure_mariadb || svc_status=1
ensure_redis || svc_status=1
ensure_redis_cluster || svc_status=1
ensure_mongodb || svc_status=1
ensure_chromium || svc_status=1

export WECHAT_TEST_POSTGRES_URL=${WECHAT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
export WECHAT_TEST_MYSQL_URL=${WECHAT_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
export WECHAT_TEST_REDIS_URL=${WECHAT_TEST_REDIS_URL:-redis://127.0.0.1:6379/}
export WECHAT_TEST_REDIS_CLUSTER_URL=${WECHAT_TEST_REDIS_CLUSTER_URL:-redis://127.0.0.1:7001/}
export WECHAT_TEST_MONGODB_URL=${WECHAT_TEST_MONGODB_URL:-mongodb://127.0.0.1:$JONGODB_PORT/}

if [ "$svc_status" -ne 0 ] && [ "${CI:-}" = "true" ]; then
  svc_log "a required service is missing and CI=true: failing"
  # shellcheck disable=SC2317
  return 1 2>/dev/null || exit 1
fi
set +u
