#!/usr/bin/env bash
# Bring the readers of union k=8's programs on GSM-Symbolic up to the contexts union k=8 has finished
# (PROTOCOL.md rules 11 and 14), then publish every file:
#   bash docs/benchmarks/strategies/catch-up.sh
# Union k=2 and k=4 read the first 2 and 4 of each context's stored programs and the 0.5B reads union k=8's
# notes, all from the store (seconds a question), which a new machine does not have: run this at the end of
# every working session that advanced union k=8, after stopping it between two rows. Each reader stops when it
# has as many rows as union k=8, so none of them writes programs of its own.
set -euo pipefail
cd "$(dirname "$0")/../../.."
HERE=docs/benchmarks/strategies
LOCAL=mlruns/strategies/gsm-symbolic
LEADER="$LOCAL/sleep-compute-union-v0-k8.jsonl"
[ -f "$LEADER" ] || { echo "no $LEADER: union k=8 has not run on this machine, nothing to catch up" >&2; exit 2; }
if pgrep -f "optimize evaluate" > /dev/null; then
  echo "an evaluation is running: stop it between two rows first (pkill -f run.sh; pkill -f 'optimize evaluate')" >&2
  exit 2
fi
source "$HERE/lib.sh"  # questions FILE
target="$(questions "$LEADER")"

follow() {  # FILE NAME [ENV...]: run NAME until FILE has $target rows
  local file="$1" name="$2"; shift 2
  if [ "$(questions "$file")" -ge "$target" ]; then echo "$(basename "$file" .jsonl): up to date"; return; fi
  env "$@" bash "$HERE/run.sh" gsm-symbolic "$name" &
  local job=$!
  while kill -0 "$job" 2> /dev/null && [ "$(questions "$file")" -lt "$target" ]; do sleep 1; done
  # A reader that reached the target stops before it starts the next context's programs.
  pkill -f "$HERE/run.sh gsm-symbolic $name" || true; pkill -f "optimize evaluate" || true
  wait "$job" 2> /dev/null || true
  sleep 3; pkill -f "programs.lm._serve" || true
  echo "$(basename "$file" .jsonl): $(questions "$file") of $target questions"
}

follow "$LOCAL/sleep-compute-union-v0-k2.jsonl" sleep-compute-union-v0-k2
follow "$LOCAL/sleep-compute-union-v0-k4.jsonl" sleep-compute-union-v0-k4
follow "$LOCAL/sleep-compute-union-v0-k8-answer-qwen2.5-coder-0.5b.jsonl" sleep-compute-union-v0-k8 \
  TEST_MODEL=local:qwen2.5-coder-0.5b
for name in sleep-compute-union-v0-k8 sleep-compute-union-v0-k2 sleep-compute-union-v0-k4 \
            sleep-compute-union-v0-k8-answer-qwen2.5-coder-0.5b; do
  [ -f "$LOCAL/$name.jsonl" ] && python3 -m optimize rows publish "$LOCAL/$name.jsonl" --out "$HERE/gsm-symbolic/$name.jsonl"
done
echo "published: $HERE/gsm-symbolic/ (commit it)"
