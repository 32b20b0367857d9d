#!/usr/bin/env bash
# Delivery under jitter: CLIENTS maze.js clients (Node, `ws`) on one topic of
# the bench app, each cut off about every 15 s and unreachable for 2 s, while
# a message goes out twice a second (bench/node/jitter.mjs). Reports the
# delivery rate, duplicates, messages out of order, and how late the messages
# sent during a client's outage reached it (p50/p95/p99/max).
#
#   bash bench/jitter.sh            # CLIENTS=1000 SECONDS=45
#
# Writes bench/results/jitter.json.
source "$(dirname "$0")/common.sh"
ulimit -n "$(ulimit -Hn)"

build_bench_app
install_node_peers

PORT=3240
start_bench_app $PORT
result=$(node "$ROOT/bench/node/jitter.mjs" "ws://127.0.0.1:$PORT/bench" "${CLIENTS:-1000}" "${SECONDS_MEASURED:-45}")
stop_server
echo "{\"machine\": \"$(machine)\", \"result\": $result}" > "$ROOT/bench/results/jitter.json"
echo "$result"
