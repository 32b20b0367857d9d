#!/usr/bin/env bash
# How long a fresh app takes to build: `maze new chat && maze g socket
# ChatSocket chat_room`, then its first `cargo build` into an empty target
# folder (the crates are already downloaded: a cold CARGO_HOME is not
# counted), and its rebuild after a one-line change to a controller.
# Wall time with hyperfine; the number of crates compiled.
#
#   bash bench/build.sh            # RUNS=2 first builds, 10 rebuilds
#
# Writes bench/results/build.json and build-crates.txt.
source "$(dirname "$0")/common.sh"
build_maze

BUILD="$WORK/build"
rm -rf "$BUILD" && mkdir -p "$BUILD"
(cd "$BUILD" && "$MAZE" -q new chat && "$MAZE" -q -C chat g socket ChatSocket chat_room)
APP="$BUILD/chat"
# The workspace's lockfile: the same versions as the tests build.
cp "$ROOT/Cargo.lock" "$APP/Cargo.lock"
(cd "$APP" && cargo update --workspace --offline --quiet)
export CARGO_TARGET_DIR="$BUILD/target"
HOME_RS="$APP/src/controllers/home.rs"

hyperfine --runs "${RUNS:-2}" \
  --prepare "rm -rf $CARGO_TARGET_DIR" \
  -n "first build" "cd $APP && cargo build --offline --quiet" \
  --export-json "$ROOT/bench/results/build-first.json"
# A one-line change: a function's string, flipped between "A" and "B" before each run.
echo 'pub fn stamp() -> &'"'"'static str { "A" }' >> "$HOME_RS"
hyperfine --warmup 1 --runs 10 \
  --prepare "sed -i 's/{ \"A\" }/{ \"X\" }/; s/{ \"B\" }/{ \"A\" }/; s/{ \"X\" }/{ \"B\" }/' $HOME_RS" \
  -n "rebuild after a one-line change" "cd $APP && cargo build --offline --quiet" \
  --export-json "$ROOT/bench/results/build-rebuild.json"

rm -rf "$CARGO_TARGET_DIR"
crates=$(cd "$APP" && cargo build --offline 2>&1 | grep -c "Compiling")
echo "machine: $(machine); crates compiled by the first build: $crates" | tee "$ROOT/bench/results/build-crates.txt"
