#!/usr/bin/env bash
# Generator speed: `maze g socket ChatSocket chat_room` on a fresh app per run,
# against hygen (npm) rendering the same four files and the same line
# injections (bench/hygen/_templates; hygen edits no TOML, maze also updates
# Cargo.toml and maze.toml). Wall time with hyperfine, peak memory with
# /usr/bin/time -v.
#
#   bash bench/generator.sh
#
# Writes bench/results/generator.json and generator-memory.txt.
source "$(dirname "$0")/common.sh"
build_maze
install_node_peers

GEN="$WORK/gen"
rm -rf "$GEN" && mkdir -p "$GEN"
(cd "$GEN" && "$MAZE" -q new pristine)
HYGEN="$ROOT/bench/node/node_modules/.bin/hygen"
export HYGEN_TMPLS="$ROOT/bench/hygen/_templates"
FRESH="rm -rf $GEN/app && cp -r $GEN/pristine $GEN/app"

hyperfine --warmup 3 --runs 30 --prepare "$FRESH" \
  -n maze "$MAZE -q -C $GEN/app g socket ChatSocket chat_room" \
  -n hygen "cd $GEN/app && $HYGEN socket new --name Chat --channel chat_room > /dev/null" \
  --export-json "$ROOT/bench/results/generator.json"

peak() { # name command...
  local name=$1; shift
  eval "$FRESH"
  local kib
  kib=$( { /usr/bin/time -v "$@" > /dev/null; } 2>&1 | awk -F': ' '/Maximum resident set size/ {print $2}')
  echo "$name peak RSS: $kib KiB"
}
{
  echo "machine: $(machine)"
  peak maze "$MAZE" -q -C "$GEN/app" g socket ChatSocket chat_room
  peak hygen bash -c "cd $GEN/app && $HYGEN socket new --name Chat --channel chat_room"
} | tee "$ROOT/bench/results/generator-memory.txt"
