#!/usr/bin/env bash
# What clients can make a server keep (one instance, memory adapter,
# history on with a 4 s TTL): RSS after 100,000 joins of distinct topics
# asking for recovery, once left; and after two history floods on new
# topics, the second after the first expired (a server that keeps what
# expired grows by a flood each time).
#
#   bash bench/history_memory.sh
#
# Writes bench/results/history_memory.json.
source "$(dirname "$0")/common.sh"
ulimit -n "$(ulimit -Hn)"

build_bench_app
build_loadgen

PORT=3240
URL="ws://127.0.0.1:$PORT/bench"
sed "s/^\[websockets\]$/[websockets]\nhistory_ttl = 4/" "$WORK/bench_app/maze.toml" > "$WORK/history_memory.toml"
(cd "$WORK/bench_app" && MAZE_CONFIG="$WORK/history_memory.toml" MAZE_PORT=$PORT exec "$BENCH_APP" > "$WORK/maze.log" 2>&1) &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
wait_for_port $PORT

start=$(rss_kib "$SERVER")
churn=$("$LOADGEN" "$URL" bench 20 5000 --churn --recover)
after_churn=$(rss_kib "$SERVER")
flood1=$("$LOADGEN" "$URL" bench:first 5000 10 --spread)
after_flood1=$(rss_kib "$SERVER")
sleep 6 # the TTL (4 s) and a sweep (every second) pass
after_expiry=$(rss_kib "$SERVER")
flood2=$("$LOADGEN" "$URL" bench:second 5000 10 --spread)
after_flood2=$(rss_kib "$SERVER")
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true

cat > "$ROOT/bench/results/history_memory.json" <<JSON
{"machine": "$(machine)", "history_ttl_seconds": 4,
 "rss_kib": {"start": $start, "after_100000_joins_left": $after_churn, "after_flood_1": $after_flood1,
             "after_expiry": $after_expiry, "after_flood_2": $after_flood2},
 "churn": $churn, "flood_1": $flood1, "flood_2": $flood2}
JSON
cat "$ROOT/bench/results/history_memory.json"
