#!/usr/bin/env bash
# The Autobahn WebSocket test suite (fuzzingclient, pip package
# autobahntestsuite 0.8.2 on Python 2.7) against runtime/examples/autobahn_echo.rs,
# an echo endpoint on maze's own WebSocket code. Cases 1-7 and 10 (framing,
# pings, reserved bits, opcodes, fragmentation, UTF-8, closing, limits); the
# large-message performance cases 9.x are bench/autobahn.sh's.
#
#   bash tests/autobahn.sh        # installs the suite under target/ the first time
#
# Fails unless every case is OK, NON-STRICT or INFORMATIONAL and closes
# cleanly; the report is in target/autobahn-report/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
CASES="${AUTOBAHN_CASES:-[\"1.*\", \"2.*\", \"3.*\", \"4.*\", \"5.*\", \"6.*\", \"7.*\", \"10.*\"]}"
SUITE="$PWD/target/autobahn"
REPORT="$PWD/target/autobahn-report"

PYTHON2=$(ls -d "$(pyenv root 2>/dev/null || echo /root/.pyenv)"/versions/2.7*/bin/python2.7 2>/dev/null | head -n 1 || true)
if [ -z "$PYTHON2" ]; then
  echo "Autobahn needs Python 2.7: install it with pyenv (pyenv install 2.7.18)" >&2
  exit 1
fi
if [ ! -f "$SUITE/autobahntestsuite/__init__.py" ]; then
  echo "== installing autobahntestsuite 0.8.2 into $SUITE"
  PIP_NO_PYTHON_VERSION_WARNING=1 "$PYTHON2" -m pip install --quiet --disable-pip-version-check --target "$SUITE" autobahntestsuite==0.8.2
fi
touch "$SUITE/zope/__init__.py" # zope.interface ships no package marker

cargo build --quiet -p maze --features websockets --example autobahn_echo
ECHO_LOG=$(mktemp)
PORT=0 target/debug/examples/autobahn_echo > "$ECHO_LOG" &
ECHO=$!
trap 'kill $ECHO 2>/dev/null || true; rm -f "$ECHO_LOG"' EXIT
for _ in $(seq 100); do
  grep -q "listening" "$ECHO_LOG" && break
  sleep 0.1
done
URL=$(sed -n 's/^echo listening on //p' "$ECHO_LOG")
[ -n "$URL" ] || { echo "the echo server did not start" >&2; exit 1; }

rm -rf "$REPORT"
SPEC=$(mktemp)
cat > "$SPEC" <<JSON
{"outdir": "$REPORT", "servers": [{"agent": "maze", "url": "$URL"}],
 "cases": $CASES, "exclude-cases": [], "exclude-agent-cases": {}}
JSON
(cd "$(mktemp -d)" && PYTHONPATH="$SUITE" "$PYTHON2" -m autobahntestsuite.wstest -m fuzzingclient -s "$SPEC" > wstest.log 2>&1) ||
  { echo "wstest failed" >&2; exit 1; }

python3 - "$REPORT/index.json" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1]))["maze"]
bad = {case: (r["behavior"], r["behaviorClose"]) for case, r in cases.items()
       if r["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL") or r["behaviorClose"] not in ("OK", "INFORMATIONAL")}
for case in sorted(bad, key=lambda c: [int(p) for p in c.split(".")]):
    print("autobahn case %s: %s / close %s" % (case, *bad[case]))
print("autobahn: %d passed, %d failed" % (len(cases) - len(bad), len(bad)))
sys.exit(1 if bad else 0)
PY
