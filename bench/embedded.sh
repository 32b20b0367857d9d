#!/usr/bin/env bash
# The same socket served three ways, same machine, same run, same load
# generator (bench/loadgen): by a generated maze app (`maze::App`, maze's own
# HTTP server, which hands an upgraded connection over as its TCP stream), and
# by runtime/examples/embedded.rs, a plain axum app, once under `axum::serve`
# (the connection reached through hyper's upgrade wrapper) and once under
# `maze::serve`. Fan-out at two sizes, then memory per idle joined connection.
#
#   bash bench/embedded.sh            # REPEAT=3 by default
#
# Writes bench/results/embedded.json.
source "$(dirname "$0")/common.sh"
ulimit -n "$(ulimit -Hn)"

build_bench_app
build_loadgen
(cd "$ROOT" && cargo build --release --quiet -p maze --features websockets --example embedded)
EMBEDDED="$ROOT/target/release/examples/embedded"

APP_PORT=3220
EMBEDDED_PORT=3230
RESULTS="$ROOT/bench/results/embedded.json"
echo "{\"machine\": \"$(machine)\", \"runs\": [" > "$RESULTS.tmp"
first=1

start_embedded() { # axum | maze
  SERVER=$1 PORT=$EMBEDDED_PORT "$EMBEDDED" > "$WORK/embedded.log" 2>&1 &
  SERVER=$!
  wait_for_port $EMBEDDED_PORT
}

record() { # server test json
  [ $first = 1 ] || echo "," >> "$RESULTS.tmp"
  first=0
  echo "{\"server\": \"$1\", \"test\": \"$2\", \"run\": ${rep:-1}, \"result\": $3}" >> "$RESULTS.tmp"
  echo "$1 $2: $3"
}

fanout() { # server url topic clients messages
  record "$1" "fanout-$4" "$("$LOADGEN" "$2" "$3" "$4" "$5")"
}

for rep in $(seq "${REPEAT:-3}"); do
for run in "1000 1000" "10000 100"; do
  set -- $run
  start_bench_app $APP_PORT; fanout app "ws://127.0.0.1:$APP_PORT/bench" bench:1 "$1" "$2"; stop_server
  start_embedded axum; fanout embedded-axum-serve "ws://127.0.0.1:$EMBEDDED_PORT/chat" chat_room:1 "$1" "$2"; stop_server
  start_embedded maze; fanout embedded-maze-serve "ws://127.0.0.1:$EMBEDDED_PORT/chat" chat_room:1 "$1" "$2"; stop_server
done
done
start_bench_app $APP_PORT; idle_memory app "ws://127.0.0.1:$APP_PORT/bench" bench:idle; stop_server
start_embedded axum; idle_memory embedded-axum-serve "ws://127.0.0.1:$EMBEDDED_PORT/chat" chat_room:idle; stop_server
start_embedded maze; idle_memory embedded-maze-serve "ws://127.0.0.1:$EMBEDDED_PORT/chat" chat_room:idle; stop_server

echo "]}" >> "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "written: $RESULTS"
