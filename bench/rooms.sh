#!/usr/bin/env bash
# Chat-shaped load: many rooms of a few clients, each client sending now and
# then (bench/loadgen/src/bin/rooms.rs), against the generated maze app with
# history on (as generated) and off (`history_size = 0`), Bun's WebSocket
# server and a Node `ws` server doing the same job; same client, same run.
#
#   bash bench/rooms.sh                     # 500 rooms x 10 clients, a message per client every 2 s, 15 s
#   ROOMS=1000 PER_ROOM=5 PERIOD_MS=1000 SECONDS_MEASURED=20 REPEAT=2 bash bench/rooms.sh
#
# Then the same load through Redis: the app made with `maze new --redis`, two
# instances on one redis-server, each room's clients dealt to both.
#
# Writes bench/results/rooms.json: per run, the client's counts and latency
# percentiles, and the server's CPU seconds over the run.
source "$(dirname "$0")/common.sh"
ulimit -n "$(ulimit -Hn)"
need_packages redis-server:redis-server

ROOMS="${ROOMS:-500}"
PER_ROOM="${PER_ROOM:-10}"
PERIOD_MS="${PERIOD_MS:-2000}"
SECONDS_MEASURED="${SECONDS_MEASURED:-15}"

build_bench_app
build_redis_bench_app
build_loadgen
install_node_peers
ROOMS_CLIENT="$ROOT/bench/loadgen/target/release/rooms"

MAZE_PORT=3220
NODE_PORT=3320
BUN_PORT=3420
RESULTS="$ROOT/bench/results/rooms.json"

# The app's maze.toml without history: [websockets] is its last table.
NO_HISTORY="$WORK/maze-no-history.toml"
cp "$WORK/bench_app/maze.toml" "$NO_HISTORY"
grep -q '^\[websockets\]' "$NO_HISTORY"
printf 'history_size = 0\n' >> "$NO_HISTORY"

# CPU seconds (user + system) the processes $SERVER (and $SERVER2) have used.
cpu_seconds() {
  local ticks=0 pid
  for pid in $SERVER ${SERVER2:-}; do
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  awk "BEGIN {printf \"%.2f\", $ticks / $(getconf CLK_TCK)}"
}

echo "{\"machine\": \"$(machine)\", \"runs\": [" > "$RESULTS.tmp"
first=1
rooms() { # server url [client flags]
  local result before after cpu
  before=$(cpu_seconds)
  result=$("$ROOMS_CLIENT" "$2" bench "$ROOMS" "$PER_ROOM" "$PERIOD_MS" "$SECONDS_MEASURED" "${@:3}")
  after=$(cpu_seconds)
  cpu=$(awk "BEGIN {printf \"%.2f\", $after - $before}")
  [ $first = 1 ] || echo "," >> "$RESULTS.tmp"
  first=0
  echo "{\"server\": \"$1\", \"run\": $rep, \"server_cpu_s\": $cpu, \"result\": $result}" >> "$RESULTS.tmp"
  echo "$1 (server CPU ${cpu} s): $result"
}

# The peers take turns, REPEAT times (default 2): runs differ on a shared machine.
for rep in $(seq "${REPEAT:-2}"); do
  start_bench_app $MAZE_PORT; rooms maze "ws://127.0.0.1:$MAZE_PORT/bench"; stop_server
  start_bench_app $MAZE_PORT "$NO_HISTORY"; rooms maze-no-history "ws://127.0.0.1:$MAZE_PORT/bench"; stop_server
  start_bun $BUN_PORT; rooms bun "ws://127.0.0.1:$BUN_PORT/"; stop_server
  start_node $NODE_PORT; rooms node-ws "ws://127.0.0.1:$NODE_PORT/"; stop_server
done

# Through Redis: two instances of the app made with `maze new --redis`.
REDIS_PORT=6391
redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no > "$WORK/redis.log" 2>&1 &
REDIS=$!
trap 'kill $REDIS 2>/dev/null || true' EXIT
wait_for_port $REDIS_PORT
start_redis_instance() { # port
  (cd "$WORK/bench_redis" && MAZE_PORT=$1 REDIS_URL="redis://127.0.0.1:$REDIS_PORT" exec "$REDIS_BENCH_APP" \
    > "$WORK/instance-$1.log" 2>&1) &
  LAST=$!
  wait_for_port "$1"
}
for rep in $(seq "${REPEAT:-2}"); do
  start_redis_instance 3521; SERVER=$LAST
  start_redis_instance 3522; SERVER2=$LAST
  rooms maze-redis-2-instances "ws://127.0.0.1:3521/bench,ws://127.0.0.1:3522/bench"
  kill "$SERVER" "$SERVER2" 2>/dev/null || true
  wait "$SERVER" "$SERVER2" 2>/dev/null || true
  SERVER2=""
done

echo "]}" >> "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "written: $RESULTS"
