#!/usr/bin/env bash
# Delivery under jitter: CLIENTS maze.js clients (Node, `ws`) on one topic of
# the bench app, each cut off about every 15 s and unreachable for 2 s, while
# a message goes out twice a second (bench/node/jitter.mjs). Reports the
# delivery rate, duplicates, messages out of order, and how late the messages
# sent during a client's outage reached it (p50/p95/p99/max).
#
#   bash bench/jitter.sh                      # CLIENTS=1000 SECONDS=45
#   TRANSPORT=longpoll bash bench/jitter.sh   # the clients on long-poll
#
# Writes bench/results/jitter.json (jitter-longpoll.json).
source "$(dirname "$0")/common.sh"
ulimit -n "$(ulimit -Hn)"

build_bench_app
install_node_peers

PORT=3240
start_bench_app $PORT
TRANSPORT=${TRANSPORT:-websocket}
result=$(node "$ROOT/bench/node/jitter.mjs" "ws://127.0.0.1:$PORT/bench" "${CLIENTS:-1000}" "${SECONDS_MEASURED:-45}" "$TRANSPORT")
stop_server
out="$ROOT/bench/results/jitter.json"
[ "$TRANSPORT" = longpoll ] && out="$ROOT/bench/results/jitter-longpoll.json"
echo "{\"machine\": \"$(machine)\", \"result\": $result}" > "$out"
echo "$result"
