#!/usr/bin/env bash
# What per-topic history costs (one instance, memory adapter): fan-out with
# history on (the default, 100 per topic; clients asking for recovery or
# not) and off (history_size = 0), and the memory one retained message takes.
#
#   bash bench/history.sh
#
# Writes bench/results/history.json.
source "$(dirname "$0")/common.sh"
ulimit -n "$(ulimit -Hn)"

build_bench_app
build_loadgen

PORT=3230
RESULTS="$ROOT/bench/results/history.json"

start_maze() { # history_size
  sed "s/^\[websockets\]$/[websockets]\nhistory_size = $1/" "$WORK/bench_app/maze.toml" > "$WORK/history.toml"
  start_bench_app $PORT "$WORK/history.toml"
}

echo "{\"machine\": \"$(machine)\", \"runs\": [" > "$RESULTS.tmp"
first=1
record() {
  [ $first = 1 ] || echo "," >> "$RESULTS.tmp"
  first=0
  echo "$1" >> "$RESULTS.tmp"
  echo "$1"
}

# History on with clients that ask for recovery (as maze.js does: every frame
# carries its position), on with clients that do not, and off.
for run in "100 --recover" "100" "0"; do
  set -- $run
  start_maze "$1"
  result=$("$LOADGEN" "ws://127.0.0.1:$PORT/bench" bench:1 1000 1000 "${@:2}")
  stop_server
  record "{\"test\": \"fanout-1000x1000\", \"history_size\": $1, \"recovering_clients\": $([ -n "${2:-}" ] && echo true || echo false), \"result\": $result}"
done

# One topic, 100,000 broadcasts: all kept, or none. Only the publisher is
# subscribed (it reads its own echoes, and the server paces it to its
# reading): a second subscriber reading slower than the flood would be
# dropped as a slow consumer, which is not what this measures.
for size in 100000 0; do
  start_maze "$size"
  before=$(rss_kib "$SERVER")
  "$LOADGEN" "ws://127.0.0.1:$PORT/bench" bench:kept 0 100000 > /dev/null
  after=$(rss_kib "$SERVER")
  stop_server
  record "{\"test\": \"retained-100000\", \"history_size\": $size, \"rss_growth_kib\": $((after - before))}"
done

echo "]}" >> "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "written: $RESULTS"
