#!/usr/bin/env bash
# Autobahn's large-message cases (9.x: text and binary messages up to 16 MiB,
# in one frame or many, at several chunk sizes) against maze's echo endpoint
# (runtime/examples/autobahn_echo.rs, release build) and a tokio-tungstenite
# echo server (bench/loadgen/src/bin/tungstenite_echo.rs), same run. Reports
# each case's time and the totals; every case must pass.
#
#   bash bench/autobahn.sh
#
# Writes bench/results/autobahn.json (the suite's report: target/autobahn-bench-report).
source "$(dirname "$0")/common.sh"

SUITE="$ROOT/target/autobahn"
REPORT="$ROOT/target/autobahn-bench-report"
PYTHON2=$(ls -d "$(pyenv root 2>/dev/null || echo /root/.pyenv)"/versions/2.7*/bin/python2.7 2>/dev/null | head -n 1 || true)
[ -n "$PYTHON2" ] || { echo "Autobahn needs Python 2.7 (pyenv install 2.7.18)" >&2; exit 1; }
if [ ! -f "$SUITE/autobahntestsuite/__init__.py" ]; then
  PIP_NO_PYTHON_VERSION_WARNING=1 "$PYTHON2" -m pip install --quiet --disable-pip-version-check --target "$SUITE" autobahntestsuite==0.8.2
fi
touch "$SUITE/zope/__init__.py"

(cd "$ROOT" && cargo build --release --quiet -p maze --features websockets --example autobahn_echo)
(cd "$ROOT/bench/loadgen" && cargo build --release --quiet --locked --bin tungstenite_echo)

start() { # binary log
  PORT=0 "$1" > "$2" &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$2" && break; sleep 0.1; done
  echo "$pid $(sed -n 's/^echo listening on //p' "$2")"
}
read -r MAZE_PID MAZE_URL < <(start "$ROOT/target/release/examples/autobahn_echo" "$WORK/maze_echo.log")
read -r PEER_PID PEER_URL < <(start "$ROOT/bench/loadgen/target/release/tungstenite_echo" "$WORK/peer_echo.log")
trap 'kill $MAZE_PID $PEER_PID 2>/dev/null || true' EXIT

rm -rf "$REPORT"
cat > "$WORK/autobahn9.json" <<JSON
{"outdir": "$REPORT", "servers": [{"agent": "maze", "url": "$MAZE_URL"}, {"agent": "tokio-tungstenite", "url": "$PEER_URL"}],
 "cases": ["9.*"], "exclude-cases": [], "exclude-agent-cases": {}}
JSON
(cd "$WORK" && PYTHONPATH="$SUITE" "$PYTHON2" -m autobahntestsuite.wstest -m fuzzingclient -s "$WORK/autobahn9.json" > "$WORK/wstest9.log" 2>&1)

python3 - "$REPORT/index.json" "$ROOT/bench/results/autobahn.json" "$(machine)" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
key = lambda case: [int(part) for part in case.split(".")]
cases = sorted(report["maze"], key=key)
rows = [{"case": c, **{agent: {"ms": report[agent][c]["duration"], "behavior": report[agent][c]["behavior"]} for agent in report}} for c in cases]
totals = {agent: sum(report[agent][c]["duration"] for c in cases) for agent in report}
json.dump({"machine": sys.argv[3], "totals_ms": totals, "cases": rows}, open(sys.argv[2], "w"), indent=1)
failed = [(agent, c) for agent in report for c in cases if report[agent][c]["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL")]
for group in sorted({c.rsplit(".", 1)[0] for c in cases}, key=key):
    members = [c for c in cases if c.rsplit(".", 1)[0] == group]
    print("%-6s %s" % (group, "  ".join("%s %d ms" % (agent, sum(report[agent][c]["duration"] for c in members)) for agent in report)))
print("total  " + "  ".join("%s %d ms" % (agent, totals[agent]) for agent in report))
print("failed: %s" % (failed or "none"))
sys.exit(1 if failed else 0)
PY
