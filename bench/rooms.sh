#!/usr/bin/env bash
# Chat-shaped load: many rooms of a few clients, each client sending now and
# then (bench/loadgen/src/bin/rooms.rs), against the generated maze app with
# history on (as generated) and off (`history_size = 0`), Bun's WebSocket
# server and a Node `ws` server doing the same job; same client, same run.
#
#   bash bench/rooms.sh                     # 500 rooms x 10 clients, a message per client every 2 s, 15 s
#   ROOMS=1000 PER_ROOM=5 PERIOD_MS=1000 SECONDS_MEASURED=20 REPEAT=2 bash bench/rooms.sh
#
# Writes bench/results/rooms.json.
source "$(dirname "$0")/common.sh"
ulimit -n "$(ulimit -Hn)"

ROOMS="${ROOMS:-500}"
PER_ROOM="${PER_ROOM:-10}"
PERIOD_MS="${PERIOD_MS:-2000}"
SECONDS_MEASURED="${SECONDS_MEASURED:-15}"

build_bench_app
build_loadgen
install_node_peers
ROOMS_CLIENT="$ROOT/bench/loadgen/target/release/rooms"

MAZE_PORT=3220
NODE_PORT=3320
BUN_PORT=3420
BUN="$ROOT/bench/node/node_modules/@oven/bun-linux-x64/bin/bun"
RESULTS="$ROOT/bench/results/rooms.json"

# The app's maze.toml without history: [websockets] is its last table.
NO_HISTORY="$WORK/maze-no-history.toml"
cp "$WORK/bench_app/maze.toml" "$NO_HISTORY"
grep -q '^\[websockets\]' "$NO_HISTORY"
printf 'history_size = 0\n' >> "$NO_HISTORY"

start_maze() { # [config]
  (cd "$WORK/bench_app" && MAZE_CONFIG="${1:-maze.toml}" MAZE_PORT=$MAZE_PORT exec "$BENCH_APP" > "$WORK/maze.log" 2>&1) &
  SERVER=$!
  wait_for_port $MAZE_PORT
}
start_node() {
  node "$ROOT/bench/node/server.mjs" $NODE_PORT > "$WORK/node.log" 2>&1 &
  SERVER=$!
  wait_for_port $NODE_PORT
}
start_bun() {
  "$BUN" "$ROOT/bench/node/bun_server.mjs" $BUN_PORT > "$WORK/bun.log" 2>&1 &
  SERVER=$!
  wait_for_port $BUN_PORT
}
stop_server() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
}

echo "{\"machine\": \"$(machine)\", \"runs\": [" > "$RESULTS.tmp"
first=1
rooms() { # server port path [client flags]
  local result
  result=$("$ROOMS_CLIENT" "ws://127.0.0.1:$2/$3" bench "$ROOMS" "$PER_ROOM" "$PERIOD_MS" "$SECONDS_MEASURED" "${@:4}")
  [ $first = 1 ] || echo "," >> "$RESULTS.tmp"
  first=0
  echo "{\"server\": \"$1\", \"run\": $rep, \"result\": $result}" >> "$RESULTS.tmp"
  echo "$1: $result"
}

# The peers take turns, REPEAT times (default 2): runs differ on a shared machine.
for rep in $(seq "${REPEAT:-2}"); do
  start_maze; rooms maze $MAZE_PORT bench; stop_server
  start_maze "$NO_HISTORY"; rooms maze-no-history $MAZE_PORT bench; stop_server
  start_bun; rooms bun $BUN_PORT ""; stop_server
  start_node; rooms node-ws $NODE_PORT ""; stop_server
done

echo "]}" >> "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "written: $RESULTS"
