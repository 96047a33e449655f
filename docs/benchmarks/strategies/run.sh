#!/usr/bin/env bash
# Sleep-time strategies against test-time-only budgets (docs/benchmarks/strategies/PROTOCOL.md).
#   bash docs/benchmarks/strategies/run.sh dev                 # the selection runs (dev split, 9 contexts)
#   bash docs/benchmarks/strategies/run.sh test NAME [NAME...]  # chosen configurations on the test split
# Resumable: each configuration's rows go to docs/benchmarks/strategies/<split>/<name>.jsonl as they finish
# and a rerun answers only what is missing. Learned contexts are kept in the rows and in the store.
set -euo pipefail
cd "$(dirname "$0")/../../.."
SPLIT="${1:?dev or test}"; shift || true
OUT="docs/benchmarks/strategies/$SPLIT"
mkdir -p "$OUT"
MODEL="${MODEL:-local:qwen2.5-coder-1.5b}"
TEST_MODEL="${TEST_MODEL:-$MODEL}"
STORE="${STORE:-mlruns/strategies-store.sqlite}"
CONTEXTS=()
[ "$SPLIT" = dev ] && CONTEXTS=(--contexts 9)

declare -A CONFIGS=(
  [sleep-notes-v0]="--sleep-strategy notes --test-verbosity 0"
  [sleep-compute-v0]="--sleep-strategy compute --test-verbosity 0"
  [sleep-anticipate-compute-v0]="--sleep-strategy anticipate+compute --sleep-questions 8 --test-verbosity 0"
  [sleep-anticipate-v0]="--sleep-strategy anticipate --sleep-questions 8 --sleep-verbosity 3 --test-verbosity 0"
  [test-only-v0]="--no-use-sleep --test-verbosity 0"
  [test-only-v1]="--no-use-sleep --test-verbosity 1"
  [test-only-v3]="--no-use-sleep --test-verbosity 3"
  [test-only-code]="--no-use-sleep --test-strategy code"
)
ORDER=(sleep-notes-v0 sleep-compute-v0 sleep-anticipate-compute-v0 test-only-code test-only-v1 test-only-v0
       sleep-anticipate-v0 test-only-v3)
NAMES=("$@")
[ ${#NAMES[@]} -eq 0 ] && NAMES=("${ORDER[@]}")
for name in "${NAMES[@]}"; do
  flags="${CONFIGS[$name]:-}"
  [ -n "$flags" ] || { echo "unknown configuration $name; known: ${!CONFIGS[*]}" >&2; exit 2; }
  echo "== $name ($SPLIT)"
  # shellcheck disable=SC2086
  python3 -m optimize evaluate --split "$SPLIT" "${CONTEXTS[@]}" --sleep-model "$MODEL" --test-model "$TEST_MODEL" \
    $flags --store "$STORE" --out "$OUT/$name.jsonl" --tolerate-errors
done
