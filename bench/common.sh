# Shared by the bench scripts: builds maze (release) and a generated bench app.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/target/bench-work"
MAZE="$ROOT/target/release/maze"
mkdir -p "$WORK"
# The apps run in release mode, which does not start without a session secret.
export MAZE_SECRET_KEY="${MAZE_SECRET_KEY:-a benchmark secret, long enough to sign cookies}"

# Installs the Debian packages a benchmark needs when they are missing (as root).
need_packages() { # command:package ...
  local missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
need_packages hyperfine:hyperfine /usr/bin/time:time node:nodejs

build_maze() {
  (cd "$ROOT" && cargo build --release --quiet -p maze-cli)
}

# A generated app with a socket whose channel rebroadcasts: the server under test.
build_bench_app() {
  build_maze
  rm -rf "$WORK/bench_app"
  # bench:* rebroadcasts (fan-out); room:* also tracks presence (bench/presence.sh).
  (cd "$WORK" && "$MAZE" -q new bench_app && cd bench_app && "$MAZE" -q g socket Bench bench &&
    "$MAZE" -q g channel Room --presence)
  # The workspace's Cargo.lock, so that a new crate release cannot change what
  # is measured: cargo adds the app's own entry without changing a version.
  cp "$ROOT/Cargo.lock" "$WORK/bench_app/Cargo.lock"
  (cd "$WORK/bench_app" && cargo update --workspace --offline --quiet &&
    CARGO_TARGET_DIR="$ROOT/target/bench" cargo build --release --quiet --locked)
  BENCH_APP="$ROOT/target/bench/release/bench_app"
}

# The same app made with `maze new --redis`: broadcasts go through Redis, so
# that several instances share them (bench/redis.sh).
build_redis_bench_app() {
  build_maze
  rm -rf "$WORK/bench_redis"
  (cd "$WORK" && "$MAZE" -q new bench_redis --redis && cd bench_redis && "$MAZE" -q g socket Bench bench)
  cp "$ROOT/Cargo.lock" "$WORK/bench_redis/Cargo.lock"
  (cd "$WORK/bench_redis" && cargo update --workspace --offline --quiet &&
    CARGO_TARGET_DIR="$ROOT/target/bench" cargo build --release --quiet --locked)
  REDIS_BENCH_APP="$ROOT/target/bench/release/bench_redis"
}

build_redis_cluster_bench_app() {
  build_maze
  rm -rf "$WORK/bench_cluster"
  (cd "$WORK" && "$MAZE" -q new bench_cluster --redis-cluster && cd bench_cluster && "$MAZE" -q g socket Bench bench)
  cp "$ROOT/Cargo.lock" "$WORK/bench_cluster/Cargo.lock"
  (cd "$WORK/bench_cluster" && cargo update --workspace --offline --quiet &&
    CARGO_TARGET_DIR="$ROOT/target/bench" cargo build --release --quiet --locked)
  CLUSTER_BENCH_APP="$ROOT/target/bench/release/bench_cluster"
}

build_loadgen() {
  (cd "$ROOT/bench/loadgen" && cargo build --release --quiet --locked)
  LOADGEN="$ROOT/bench/loadgen/target/release/maze-loadgen"
}

install_node_peers() {
  (cd "$ROOT/bench/node" && npm ci --no-audit --no-fund --loglevel=error)
}

# The generated bench app (build_bench_app) on PORT, with maze.toml or
# CONFIG, as $SERVER until stop_server.
start_bench_app() { # port [config]
  (cd "$WORK/bench_app" && MAZE_CONFIG="${2:-maze.toml}" MAZE_PORT=$1 exec "$BENCH_APP" > "$WORK/maze.log" 2>&1) &
  SERVER=$!
  wait_for_port "$1"
}

# The peers, each as $SERVER until stop_server: Node `ws` and Bun (uWebSockets)
# doing what a maze socket whose channel rebroadcasts does (bench/node/).
start_node() { # port
  node "$ROOT/bench/node/server.mjs" "$1" > "$WORK/node.log" 2>&1 &
  SERVER=$!
  wait_for_port "$1"
}
start_bun() { # port
  "$ROOT/bench/node/node_modules/@oven/bun-linux-x64/bin/bun" "$ROOT/bench/node/bun_server.mjs" "$1" \
    > "$WORK/bun.log" 2>&1 &
  SERVER=$!
  wait_for_port "$1"
}
stop_server() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
}

# The RSS the server $SERVER grows by per idle joined connection, 10,000 of
# them on TOPIC at URL, recorded (with the script's `record`) as NAME's.
idle_memory() { # name url topic
  local before after
  before=$(rss_kib "$SERVER")
  coproc HOLD { "$LOADGEN" "$2" "$3" 10000 0 --hold 30; }
  read -r _ <&"${HOLD[0]}"   # "joined"
  sleep 3
  after=$(rss_kib "$SERVER")
  kill "$HOLD_PID" 2>/dev/null || true
  wait "$HOLD_PID" 2>/dev/null || true
  record "$1" "idle-memory" "{\"connections\": 10000, \"rss_before_kib\": $before, \"rss_after_kib\": $after, \"kib_per_connection\": $(awk "BEGIN {printf \"%.2f\", ($after - $before) / 10000}")}"
}

# Waits for a TCP port on 127.0.0.1 to accept.
wait_for_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

rss_kib() {
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

machine() {
  echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
}
