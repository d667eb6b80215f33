#!/usr/bin/env bash
# Starts `duet serve` on the shipped model (models/duet-arith-tiny, a small DeepSeek-V3-architecture
# MoE trained for duet on arithmetic word problems), sends one question through the
# OpenAI-compatible /v1/completions endpoint, prints the answer, and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
DUET=${DUET:-./build/duet}
LOG=$(mktemp)
"$DUET" serve --port 0 2>"$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 1 100); do
  PORT=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$LOG" | head -n1 | grep -oE '[0-9]+$' || true)
  if [ -n "$PORT" ] && curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; then break; fi
  sleep 0.2
done
[ -n "${PORT:-}" ] || { cat "$LOG" >&2; echo "duet serve did not start" >&2; exit 1; }
QUESTION="Sara has 2718 stickers. She gives 1414 of them to Tom. How many stickers does Sara have left?"
echo "Q: $QUESTION"
curl -s "http://127.0.0.1:$PORT/v1/completions" -H 'Content-Type: application/json' \
  -d "{\"prompt\": \"Question: $QUESTION\\nAnswer:\", \"max_tokens\": 200, \"temperature\": 0, \"stop\": [\"\\n\\n\"]}" |
  python3 -c 'import json, sys; print("A:" + json.load(sys.stdin)["choices"][0]["text"])'
