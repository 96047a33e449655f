#!/usr/bin/env bash
# Sleep-time strategies against test-time-only budgets (docs/benchmarks/strategies/PROTOCOL.md).
#   bash docs/benchmarks/strategies/run.sh dev                 # the selection runs (dev split, 9 contexts)
#   bash docs/benchmarks/strategies/run.sh dev-all NAME [NAME...]  # round 4's screen: the whole dev split
#   bash docs/benchmarks/strategies/run.sh test NAME [NAME...]  # chosen configurations on the test split
#   bash docs/benchmarks/strategies/run.sh gsm-symbolic NAME [NAME...]  # the same on the third-party held-out set
# GSM-Symbolic rows quote third-party instances, so they go to mlruns/strategies/gsm-symbolic/ (not committed) and a
# copy without instance text (`sleeptime rows publish`) to docs/benchmarks/strategies/gsm-symbolic/, committed: it
# recomputes every table and claim, and a run on a fresh machine resumes from it. The set is made by: python3 -m optimize data generate --templates ../shared/data/gsm-symbolic/templates
#   --per-template 2 --seed 2026 --skip-broken --checked --out mlruns/gsm-symbolic-heldout.jsonl
# Resumable: each configuration's rows go to docs/benchmarks/strategies/<split>/<name>.jsonl as they finish
# and a rerun answers only what is missing. Learned contexts are kept in the rows and in the store.
set -euo pipefail
cd "$(dirname "$0")/../../.."
SPLIT="${1:?dev or test}"; shift || true
OUT="docs/benchmarks/strategies/$SPLIT"
HELDOUT="${HELDOUT:-mlruns/gsm-symbolic-heldout.jsonl}"
DATA=(--split "$SPLIT")
if [ "$SPLIT" = gsm-symbolic ]; then
  [ -f "$HELDOUT" ] || { echo "no $HELDOUT: make it with the data generate command at the top of $0" >&2; exit 2; }
  OUT="mlruns/strategies/gsm-symbolic"
  # One context per template, the same 147 the standard benchmark's --heldout-contexts 147 takes.
  DATA=(--data "$HELDOUT" --split all --contexts 147)
fi
mkdir -p "$OUT"
MODEL="${MODEL:-local:qwen2.5-coder-1.5b}"
TEST_MODEL="${TEST_MODEL:-$MODEL}"
STORE="${STORE:-mlruns/strategies-store.sqlite}"
CONTEXTS=()
[ "$SPLIT" = dev ] && CONTEXTS=(--contexts 9)
if [ "$SPLIT" = dev-all ]; then DATA=(--split dev); fi  # round 4's screen: every dev context (238 questions)

declare -A CONFIGS=(
  [sleep-notes-v0]="--sleep-strategy notes --test-verbosity 0"
  [sleep-compute-v0]="--sleep-strategy compute --test-verbosity 0"
  [sleep-anticipate-compute-v0]="--sleep-strategy anticipate+compute --sleep-questions 8 --test-verbosity 0"
  [sleep-anticipate-v0]="--sleep-strategy anticipate --sleep-questions 8 --sleep-verbosity 3 --test-verbosity 0"
  [test-only-v0]="--no-use-sleep --test-verbosity 0"
  [test-only-v1]="--no-use-sleep --test-verbosity 1"
  [test-only-v3]="--no-use-sleep --test-verbosity 3"
  [test-only-code]="--no-use-sleep --test-strategy code"
  # Rule step 3's scaling curve: the chosen strategy with more samples combined by agreement.
  [sleep-compute-v0-k2]="--sleep-strategy compute --sleep-samples 2 --test-verbosity 0"
  [sleep-compute-v0-k4]="--sleep-strategy compute --sleep-samples 4 --test-verbosity 0"
  [sleep-compute-v0-k8]="--sleep-strategy compute --sleep-samples 8 --test-verbosity 0"
  # Round 2 (PROTOCOL.md): the same programs combined by union, every name they do not disagree on.
  [sleep-compute-union-v0-k2]="--sleep-strategy compute --sleep-samples 2 --sleep-combine union --test-verbosity 0"
  [sleep-compute-union-v0-k4]="--sleep-strategy compute --sleep-samples 4 --sleep-combine union --test-verbosity 0"
  [sleep-compute-union-v0-k8]="--sleep-strategy compute --sleep-samples 8 --sleep-combine union --test-verbosity 0"
  # Round 5 (PROTOCOL.md): the union curve's next point, 8 more programs per context.
  [sleep-compute-union-v0-k16]="--sleep-strategy compute --sleep-samples 16 --sleep-combine union --test-verbosity 0"
  # Round 6: the last point, if k=16 gains over k=8 on test.
  [sleep-compute-union-v0-k32]="--sleep-strategy compute --sleep-samples 32 --sleep-combine union --test-verbosity 0"
  # Round 3: the union's values one line each, the value most programs computed first.
  [sleep-compute-ranked-v0-k2]="--sleep-strategy compute --sleep-samples 2 --sleep-combine ranked --test-verbosity 0"
  [sleep-compute-ranked-v0-k4]="--sleep-strategy compute --sleep-samples 4 --sleep-combine ranked --test-verbosity 0"
  [sleep-compute-ranked-v0-k8]="--sleep-strategy compute --sleep-samples 8 --sleep-combine ranked --test-verbosity 0"
  # Round 4: the same notes, answered by picking the line that answers (its value copied by code).
  [sleep-compute-pick]="--sleep-strategy compute --test-strategy pick"
  [sleep-compute-union-pick-k4]="--sleep-strategy compute --sleep-samples 4 --sleep-combine union --test-strategy pick"
  [sleep-compute-union-pick-k8]="--sleep-strategy compute --sleep-samples 8 --sleep-combine union --test-strategy pick"
  # Dev diagnostics of round 2 (not candidates): the same notes read at test verbosity 1.
  [sleep-compute-v1]="--sleep-strategy compute --test-verbosity 1"
  [sleep-compute-union-v1-k8]="--sleep-strategy compute --sleep-samples 8 --sleep-combine union --test-verbosity 1"
)
ORDER=(sleep-notes-v0 sleep-compute-v0 sleep-anticipate-compute-v0 test-only-code test-only-v1 test-only-v0
       sleep-anticipate-v0 test-only-v3)
# Another answerer reading the same notes (TEST_MODEL=local:qwen2.5-coder-0.5b) writes to NAME-answer-<model>.
SUFFIX=""
[ "$TEST_MODEL" != "$MODEL" ] && SUFFIX="-answer-${TEST_MODEL#local:}"
NAMES=("$@")
[ ${#NAMES[@]} -eq 0 ] && NAMES=("${ORDER[@]}")
# The programs computed strategies keep in the store, committed for our own splits (never GSM-Symbolic's, which
# quote third-party instances): a new machine reads them back, so a larger k writes only the new samples.
SAMPLES=""
case "$SPLIT" in dev|dev-all) SAMPLES="docs/benchmarks/strategies/samples/dev-compute.jsonl" ;;
                 test) SAMPLES="docs/benchmarks/strategies/samples/test-compute.jsonl" ;; esac
if [ -n "$SAMPLES" ] && [ -f "$SAMPLES" ]; then python3 -m optimize samples import "$SAMPLES" --store "$STORE"; fi
for name in "${NAMES[@]}"; do
  flags="${CONFIGS[$name]:-}"
  [ -n "$flags" ] || { echo "unknown configuration $name; known: ${!CONFIGS[*]}" >&2; exit 2; }
  echo "== $name ($SPLIT)"
  rows="$OUT/$name$SUFFIX.jsonl"
  public="docs/benchmarks/strategies/gsm-symbolic/$name$SUFFIX.jsonl"
  if [ "$SPLIT" = gsm-symbolic ] && [ ! -f "$rows" ] && [ -f "$public" ]; then
    mkdir -p "$OUT" && cp "$public" "$rows" && cp "$public.config.json" "$rows.config.json"  # resume from it
  fi
  # shellcheck disable=SC2086
  python3 -m optimize evaluate "${DATA[@]}" "${CONTEXTS[@]}" --sleep-model "$MODEL" --test-model "$TEST_MODEL" \
    $flags --store "$STORE" --out "$rows" --tolerate-errors
  if [ "$SPLIT" = gsm-symbolic ]; then python3 -m optimize rows publish "$rows" --out "$public"; fi
  if [ -n "$SAMPLES" ] && [[ "$flags" == *"--sleep-strategy compute"* ]]; then
    # shellcheck disable=SC2086
    python3 -m optimize samples export "${DATA[@]}" "${CONTEXTS[@]}" --sleep-model "$MODEL" $flags \
      --store "$STORE" --out "$SAMPLES"
  fi
done
