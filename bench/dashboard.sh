#!/usr/bin/env bash
# What the live dashboard costs: the fan-out of bench/fanout.sh (1,000 and
# 10,000 clients on one topic) against the bench app with no dashboard,
# with `[dashboard]` on and no page open, and with a page open (a viewer
# joined to the dashboard's socket, bench/node/dashboard_viewer.mjs).
#
#   bash bench/dashboard.sh         # REPEAT=3
#
# Writes bench/results/dashboard.json.
source "$(dirname "$0")/common.sh"
ulimit -n "$(ulimit -Hn)"

build_bench_app
build_loadgen
install_node_peers

PORT=3230
RESULTS="$ROOT/bench/results/dashboard.json"
echo "{\"machine\": \"$(machine)\", \"runs\": [" > "$RESULTS.tmp"
first=1
DASHBOARD="$WORK/bench_app/maze-dashboard.toml"
cat "$WORK/bench_app/maze.toml" > "$DASHBOARD"
printf '\n[dashboard]\npath = "/maze/dashboard"\n\n[metrics]\ntrust_loopback = true\n' >> "$DASHBOARD"

fanout() { # name clients messages
  local result
  result=$("$LOADGEN" "ws://127.0.0.1:$PORT/bench" "bench:1" "$2" "$3")
  [ $first = 1 ] || echo "," >> "$RESULTS.tmp"
  first=0
  echo "{\"server\": \"$1\", \"test\": \"fanout-$2\", \"run\": $rep, \"result\": $result}" >> "$RESULTS.tmp"
  echo "$1 fanout-$2: $result"
}

for rep in $(seq "${REPEAT:-3}"); do
for run in "1000 1000" "10000 100"; do
  set -- $run
  start_bench_app $PORT; fanout off "$1" "$2"; stop_server
  start_bench_app $PORT "$DASHBOARD"; fanout on-closed "$1" "$2"; stop_server
  start_bench_app $PORT "$DASHBOARD"
  node "$ROOT/bench/node/dashboard_viewer.mjs" $PORT > "$WORK/viewer.log" 2>&1 &
  VIEWER=$!
  sleep 1.5 # the viewer has joined and received a view or so
  fanout on-open "$1" "$2"
  kill -TERM $VIEWER; wait $VIEWER 2>/dev/null || true
  echo "viewer: $(cat "$WORK/viewer.log")"
  stop_server
done
done
echo "]}" >> "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "written: $RESULTS"
