#!/usr/bin/env bash
# Fan-out and memory per connection: a generated maze app against Bun's
# WebSocket server (uWebSockets, bench/node/bun_server.mjs) and a Node `ws`
# server (bench/node/server.mjs) doing the same job, same machine, same run,
# same load generator (bench/loadgen).
#
#   bash bench/fanout.sh            # N = 1,000 and 10,000 clients
#
# Writes bench/results/fanout.json.
source "$(dirname "$0")/common.sh"
# 10,000 connections need as many descriptors on each side.
ulimit -n "$(ulimit -Hn)"

build_bench_app
build_loadgen
install_node_peers

MAZE_PORT=3210
NODE_PORT=3310
BUN_PORT=3410
RESULTS="$ROOT/bench/results/fanout.json"
echo "{\"machine\": \"$(machine)\", \"runs\": [" > "$RESULTS.tmp"
first=1

record() { # server clients json
  [ $first = 1 ] || echo "," >> "$RESULTS.tmp"
  first=0
  echo "{\"server\": \"$1\", \"test\": \"$2\", \"run\": ${rep:-1}, \"result\": $3}" >> "$RESULTS.tmp"
  echo "$1 $2: $3"
}

fanout() { # server port path clients messages [loadgen flags]
  local result
  result=$("$LOADGEN" "ws://127.0.0.1:$2/$3" "bench:1" "$4" "$5" "${@:6}")
  record "$1" "fanout-$4" "$result"
}

# Each size REPEAT times (default 3), the peers taking turns: this shared
# machine's noise is several percent from one run to the next.
for rep in $(seq "${REPEAT:-3}"); do
for run in "1000 1000" "10000 100"; do
  set -- $run
  start_bench_app $MAZE_PORT; fanout maze $MAZE_PORT bench "$1" "$2"; stop_server
  # Clients asking for recovery, as maze.js does: each frame carries its
  # position in the topic's history. Shows what recovery costs.
  start_bench_app $MAZE_PORT; fanout maze-recovering $MAZE_PORT bench "$1" "$2" --recover; stop_server
  start_bun $BUN_PORT; fanout bun $BUN_PORT "" "$1" "$2"; stop_server
  start_node $NODE_PORT; fanout node-ws $NODE_PORT "" "$1" "$2"; stop_server
done
done
start_bench_app $MAZE_PORT; idle_memory maze "ws://127.0.0.1:$MAZE_PORT/bench" bench:idle; stop_server
start_bun $BUN_PORT; idle_memory bun "ws://127.0.0.1:$BUN_PORT/" bench:idle; stop_server
start_node $NODE_PORT; idle_memory node-ws "ws://127.0.0.1:$NODE_PORT/" bench:idle; stop_server

echo "]}" >> "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "written: $RESULTS"
