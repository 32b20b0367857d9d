#!/usr/bin/env bash
# `maze routes` at scale: router files with 1,000, 10,000 and 100,000 routes
# plus 100 sockets (3 channels each), listed as JSON. Time with hyperfine,
# peak memory with /usr/bin/time -v; the cost should grow linearly.
#
#   bash bench/routes.sh
#
# Writes bench/results/routes.json and routes-memory.txt.
source "$(dirname "$0")/common.sh"
build_maze

make_app() { # routes
  local app="$WORK/routes-$1"
  rm -rf "$app" && mkdir -p "$app/src/sockets"
  printf '[app]\nname = "big"\n' > "$app/maze.toml"
  {
    echo "use maze::Routes;"
    echo "pub fn routes(routes: &mut Routes) {"
    for i in $(seq 1 "$1"); do
      if (( i % 10 == 0 )); then
        printf '    // routes.get("/old/%d", controllers::old::show);\n' "$i"
        printf '    routes\n        .post(\n            "/items/%d",\n            controllers::items::create_%d,\n        );\n' "$i" "$i"
      else
        printf '    routes.get("/items/%d", controllers::items::show_%d);\n' "$i" "$i"
      fi
    done
    for s in $(seq 1 100); do
      printf '    routes.socket::<crate::sockets::Room%dSocket>("/live/%d");\n' "$s" "$s"
    done
    echo "    // maze:routes"
    echo "}"
  } > "$app/src/routes.rs"
  for s in $(seq 1 100); do
    printf 'impl Socket for Room%dSocket {\n    fn channels(channels: &mut Channels) {\n        channels.add::<crate::channels::AChannel>("a%d:*");\n        channels.add::<crate::channels::BChannel>("b%d:*");\n        channels.add::<crate::channels::CChannel>("c%d");\n    }\n}\n' "$s" "$s" "$s" "$s" \
      > "$app/src/sockets/room${s}_socket.rs"
  done
  echo "$app"
}

commands=()
for n in 1000 10000 100000; do
  app=$(make_app $n)
  commands+=(-n "routes-$n" "$MAZE -C $app routes --json > /dev/null")
done
hyperfine --warmup 3 --runs 20 "${commands[@]}" --export-json "$ROOT/bench/results/routes.json"

{
  echo "machine: $(machine)"
  for n in 1000 10000 100000; do
    kib=$( { /usr/bin/time -v "$MAZE" -C "$WORK/routes-$n" routes --json > /dev/null; } 2>&1 | awk -F': ' '/Maximum resident set size/ {print $2}')
    echo "routes-$n peak RSS: $kib KiB"
  done
} | tee "$ROOT/bench/results/routes-memory.txt"
