#!/usr/bin/env bash
# Past one Redis: two app instances on one redis-server against two on a
# 3-master Redis Cluster (no replicas), same load generators, same run.
#
# - many topics: ROOMS rooms x PER_ROOM clients (default 1,000 x 10), each
#   client sending a message every PERIOD_MS (2 s) to its room, the clients
#   of each room dealt to both instances (bench/loadgen/src/bin/rooms.rs);
# - fan-out: one topic, 1,000 subscribers over both instances, 1,000
#   broadcasts (maze-loadgen).
#
# Each run reports the client's counts and latency, the app instances' CPU
# seconds, and Redis's (every node's used_cpu_user + used_cpu_sys, summed),
# with Redis CPU per message sent.
#
#   bash bench/cluster.sh
#   ROOMS=2000 PER_ROOM=5 REPEAT=3 bash bench/cluster.sh
#
# Writes bench/results/cluster.json.
source "$(dirname "$0")/common.sh"
ulimit -n "$(ulimit -Hn)"
need_packages redis-server:redis-server

ROOMS="${ROOMS:-1000}"
PER_ROOM="${PER_ROOM:-10}"
PERIOD_MS="${PERIOD_MS:-2000}"
SECONDS_MEASURED="${SECONDS_MEASURED:-15}"

build_redis_bench_app
build_redis_cluster_bench_app
build_loadgen
ROOMS_CLIENT="$ROOT/bench/loadgen/target/release/rooms"
RESULTS="$ROOT/bench/results/cluster.json"

# One Redis, and a cluster of three masters.
SINGLE=6393
NODES="7201 7202 7203"
REDIS_PIDS=""
redis() { # port [cluster flags]
  local port=$1
  shift
  mkdir -p "$WORK/redis-$port"
  (cd "$WORK/redis-$port" && rm -f nodes.conf &&
    exec redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no "$@" > log 2>&1) &
  REDIS_PIDS="$REDIS_PIDS $!"
  wait_for_port "$port"
}
trap 'kill $REDIS_PIDS $APPS 2>/dev/null || true' EXIT
redis $SINGLE
for port in $NODES; do redis "$port" --cluster-enabled yes --cluster-config-file nodes.conf; done
redis-cli --cluster create $(for port in $NODES; do echo "127.0.0.1:$port"; done) --cluster-yes > "$WORK/cluster-create.log"
until redis-cli -p 7201 cluster info | grep -q cluster_state:ok; do sleep 0.2; done

APPS=""
start_app() { # binary dir port env...
  local binary=$1 dir=$2 port=$3
  shift 3
  (cd "$dir" && exec env MAZE_PORT="$port" "$@" "$binary" > "$WORK/app-$port.log" 2>&1) &
  APPS="$APPS $!"
  wait_for_port "$port"
}
stop_apps() {
  kill $APPS 2>/dev/null || true
  wait $APPS 2>/dev/null || true
  APPS=""
}
# CPU seconds used so far by the app instances, and by the Redis nodes of a setup.
app_cpu() {
  local ticks=0 pid
  for pid in $APPS; do ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  awk "BEGIN {printf \"%.2f\", $ticks / $(getconf CLK_TCK)}"
}
redis_cpu() { # ports...
  local port total=0
  for port in "$@"; do
    total=$(redis-cli -p "$port" info cpu | tr -d '\r' |
      awk -F: -v t="$total" '/^used_cpu_(user|sys):/ {t += $2} END {printf "%.3f", t}')
  done
  echo "$total"
}

echo "{\"machine\": \"$(machine)\", \"rooms\": $ROOMS, \"per_room\": $PER_ROOM, \"runs\": [" > "$RESULTS.tmp"
first=1
measure() { # setup test redis-ports command...
  local setup=$1 test=$2 ports=$3 app0 redis0 result app1 redis1 sent
  shift 3
  app0=$(app_cpu)
  redis0=$(redis_cpu $ports)
  result=$("$@")
  app1=$(app_cpu)
  redis1=$(redis_cpu $ports)
  sent=$(echo "$result" | sed -n 's/.*"sent": *\([0-9]*\).*/\1/p')
  [ -n "$sent" ] || sent=$(echo "$result" | sed -n 's/.*"messages": *\([0-9]*\).*/\1/p')
  local line
  line=$(awk -v s="$setup" -v t="$test" -v a0="$app0" -v a1="$app1" -v r0="$redis0" -v r1="$redis1" -v n="${sent:-0}" -v res="$result" \
    'BEGIN {per = (n > 0) ? (r1 - r0) * 1e6 / n : 0;
      printf "{\"setup\": \"%s\", \"test\": \"%s\", \"app_cpu_s\": %.2f, \"redis_cpu_s\": %.3f, \"redis_cpu_us_per_message\": %.1f, \"result\": %s}",
        s, t, a1 - a0, r1 - r0, per, res}')
  [ $first = 1 ] || echo "," >> "$RESULTS.tmp"
  first=0
  echo "$line" >> "$RESULTS.tmp"
  echo "$line"
}

SINGLE_URL="redis://127.0.0.1:$SINGLE"
CLUSTER_URLS=$(for port in $NODES; do printf 'redis://127.0.0.1:%s,' "$port"; done | sed 's/,$//')
# Two instances of BINARY (in DIR, with the environment ENV) on Redis at
# PORTS: the rooms run, then the fan-out.
setup() { # name binary dir ports env
  start_app "$2" "$3" 3601 "$5"
  start_app "$2" "$3" 3602 "$5"
  measure "$1" rooms "$4" \
    "$ROOMS_CLIENT" ws://127.0.0.1:3601/bench,ws://127.0.0.1:3602/bench bench "$ROOMS" "$PER_ROOM" "$PERIOD_MS" "$SECONDS_MEASURED"
  measure "$1" fanout-1000 "$4" \
    "$LOADGEN" ws://127.0.0.1:3601/bench,ws://127.0.0.1:3602/bench bench:1 1000 1000
  stop_apps
}
for rep in $(seq "${REPEAT:-2}"); do
  setup "one redis" "$REDIS_BENCH_APP" "$WORK/bench_redis" "$SINGLE" "REDIS_URL=$SINGLE_URL"
  setup "cluster of 3" "$CLUSTER_BENCH_APP" "$WORK/bench_cluster" "$NODES" "REDIS_URLS=$CLUSTER_URLS"
done
echo "]}" >> "$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
echo "written: $RESULTS"
