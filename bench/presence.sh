#!/usr/bin/env bash
# Presence on one instance of a generated app (a channel made with
# `maze g channel Room --presence`), with the project's load generator:
# a storm of N joins seen by a watcher (how many presence_diff frames), the
# time a newcomer waits for presence_state with N users, and the memory a
# tracked presence costs beyond its connection.
#
#   bash bench/presence.sh          # N = 1,000 and 10,000
#
# Writes bench/results/presence.json.
source "$(dirname "$0")/common.sh"
ulimit -n "$(ulimit -Hn)"

build_bench_app
build_loadgen

PORT=3220
URL="ws://127.0.0.1:$PORT/bench"
RESULTS="$ROOT/bench/results/presence.json"

start_maze() {
  # One arena and eager trimming, so that RSS follows what is live rather than
  # what the allocator kept from the storm's traffic (both runs alike).
  (cd "$WORK/bench_app" && MALLOC_ARENA_MAX=1 MALLOC_TRIM_THRESHOLD_=0 MAZE_PORT=$PORT exec "$BENCH_APP" > "$WORK/maze.log" 2>&1) &
  SERVER=$!
  wait_for_port $PORT
}

# RSS (KiB) of the server once N clients are joined to TOPIC (with --presence:
# tracked), and the load generator's result line.
held() { # clients topic [--presence]
  local before after result
  before=$(rss_kib "$SERVER")
  coproc HOLD { "$LOADGEN" "$URL" "$2" "$1" 0 --hold 30 ${3:-}; }
  result=null
  if [ -n "${3:-}" ]; then read -r result <&"${HOLD[0]}"; fi
  read -r _ <&"${HOLD[0]}"   # "joined"
  sleep 3                    # let the allocator settle before reading RSS
  after=$(rss_kib "$SERVER")
  kill "${HOLD_PID:-}" 2>/dev/null || true
  wait "${HOLD_PID:-}" 2>/dev/null || true
  echo "$((after - before)) $result"
}

echo "{\"machine\": \"$(machine)\", \"runs\": [" > "$RESULTS.tmp"
first=1
for n in 1000 10000; do
  start_maze; read -r plain _ <<< "$(held "$n" bench:idle)"; stop_server
  start_maze; read -r tracked result <<< "$(held "$n" room:1 --presence)"; stop_server
  per=$(awk "BEGIN {printf \"%.2f\", ($tracked - $plain) / $n}")
  line="{\"clients\": $n, \"rss_growth_plain_kib\": $plain, \"rss_growth_tracked_kib\": $tracked, \"kib_per_presence\": $per, \"result\": $result}"
  [ $first = 1 ] || echo "," >> "$RESULTS.tmp"
  first=0
  echo "$line" >> "$RESULTS.tmp"
  echo "$line"
done
echo "]}" >> "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "written: $RESULTS"
