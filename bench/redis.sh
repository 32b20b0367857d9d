#!/usr/bin/env bash
# Fan-out through Redis: the generated bench app made with `maze new --redis`,
# one and two instances on one redis-server, against one instance of the
# default app (pub/sub in memory), same load generator, same run. With two
# instances the subscribers are spread over both and the publisher talks to
# the first, so every message crosses Redis to reach half the subscribers.
#
#   bash bench/redis.sh
#
# Writes bench/results/redis.json.
source "$(dirname "$0")/common.sh"
ulimit -n "$(ulimit -Hn)"
need_packages redis-server:redis-server

build_bench_app
build_redis_bench_app
build_loadgen

REDIS_PORT=6390
RESULTS="$ROOT/bench/results/redis.json"
redis-server --port $REDIS_PORT --bind 127.0.0.1 --save "" --appendonly no > "$WORK/redis.log" 2>&1 &
REDIS=$!
trap 'kill $REDIS $SERVERS 2>/dev/null || true' EXIT
wait_for_port $REDIS_PORT

SERVERS=""
start() { # binary app-dir port...
  local binary=$1 dir=$2
  shift 2
  for port in "$@"; do
    (cd "$dir" && MAZE_PORT=$port REDIS_URL="redis://127.0.0.1:$REDIS_PORT" exec "$binary" > "$WORK/instance-$port.log" 2>&1) &
    SERVERS="$SERVERS $!"
    wait_for_port "$port"
  done
}

stop_all() {
  kill $SERVERS 2>/dev/null || true
  wait $SERVERS 2>/dev/null || true
  SERVERS=""
}

echo "{\"machine\": \"$(machine)\", \"runs\": [" > "$RESULTS.tmp"
first=1
record() { # setup test json
  [ $first = 1 ] || echo "," >> "$RESULTS.tmp"
  first=0
  echo "{\"setup\": \"$1\", \"test\": \"$2\", \"result\": $3}" >> "$RESULTS.tmp"
  echo "$1 $2: $3"
}

for run in "1000 1000" "10000 100"; do
  set -- $run
  start "$BENCH_APP" "$WORK/bench_app" 3501
  record "memory, 1 instance" "fanout-$1" "$("$LOADGEN" ws://127.0.0.1:3501/bench bench:1 "$1" "$2")"
  stop_all
  start "$REDIS_BENCH_APP" "$WORK/bench_redis" 3501
  record "redis, 1 instance" "fanout-$1" "$("$LOADGEN" ws://127.0.0.1:3501/bench bench:1 "$1" "$2")"
  stop_all
  redis-cli -p $REDIS_PORT config resetstat > /dev/null
  start "$REDIS_BENCH_APP" "$WORK/bench_redis" 3501 3502
  record "redis, 2 instances" "fanout-$1" \
    "$("$LOADGEN" ws://127.0.0.1:3501/bench,ws://127.0.0.1:3502/bench bench:1 "$1" "$2")"
  redis-cli -p $REDIS_PORT info commandstats | grep -E "cmdstat_(eval|publish)" || true
  stop_all
done

echo "]}" >> "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "written: $RESULTS"
