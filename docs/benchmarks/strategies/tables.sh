#!/usr/bin/env bash
# Tables and figures of the strategy study, made from the committed rows only (no model runs):
#   bash docs/benchmarks/strategies/tables.sh
# dev: every candidate of PROTOCOL.md against today's notes. test: the chosen strategy (compute) and the
# standard run's 1-slot runs on the same 238 questions against the chosen comparator, test-only v3 (the
# standard run's 7211c54413d6: the same budget, prompts and server settings as the protocol's test-only-v3,
# so it is not run twice). A file that does not exist yet, or has fewer rows than the baseline (a run still going),
# is left out and named.
set -euo pipefail
cd "$(dirname "$0")/../../.."
HERE=docs/benchmarks/strategies
STD=docs/benchmarks/standard/ours/local-qwen2.5-coder-1.5b
STD05=docs/benchmarks/standard/ours/local-qwen2.5-coder-0.5b

source "$HERE/lib.sh"  # questions FILE

variants() {  # N NAME=PATH ... -> only those whose run is complete (N questions, as many as the baseline)
  local total="$1"; shift
  for item in "$@"; do
    local file="${item##*=}" answered
    if [ ! -f "$file" ]; then echo "left out (not run yet): $file" >&2; continue; fi
    answered="$(questions "$file")"
    if [ "$answered" -lt "$total" ]; then
      echo "left out (still running: $answered of $total questions): $file" >&2
    else echo "$item"; fi
  done
}

table() {  # OUT BASELINE_NAME BASELINE NAME=PATH...
  local out="$1" name="$2" baseline="$3"; shift 3
  mapfile -t items < <(variants "$(questions "$baseline")" "$@")
  if [ ${#items[@]} -eq 0 ]; then echo "not written (nothing complete to compare yet): $HERE/$out.md"; return; fi
  python3 -m optimize compare "$baseline" "${items[@]}" --baseline-name "$name" \
    --out "$HERE/$out.md" --plot "$HERE/$out.png" > /dev/null
  echo "written: $HERE/$out.md, .csv, .png"
}

D=$HERE/dev
table dev-table notes "$D/sleep-notes-v0.jsonl" \
  "compute=$D/sleep-compute-v0.jsonl" "anticipate+compute=$D/sleep-anticipate-compute-v0.jsonl" \
  "anticipate=$D/sleep-anticipate-v0.jsonl" "test-only v0=$D/test-only-v0.jsonl" \
  "test-only v1=$D/test-only-v1.jsonl" "test-only v3=$D/test-only-v3.jsonl" \
  "test-only code=$D/test-only-code.jsonl"
# Round 2 on dev: the combine rule, against compute k=1.
table dev-table-combine "compute k=1" "$D/sleep-compute-v0.jsonl" \
  "compute k=2=$D/sleep-compute-v0-k2.jsonl" "compute k=4=$D/sleep-compute-v0-k4.jsonl" \
  "union k=2=$D/sleep-compute-union-v0-k2.jsonl" "union k=4=$D/sleep-compute-union-v0-k4.jsonl" \
  "union k=8=$D/sleep-compute-union-v0-k8.jsonl" "union k=16=$D/sleep-compute-union-v0-k16.jsonl"
# Round 3 on dev: the union's values ranked by how many programs computed them, against union k=8.
table dev-table-ranked "union k=8" "$D/sleep-compute-union-v0-k8.jsonl" \
  "union k=4=$D/sleep-compute-union-v0-k4.jsonl" "ranked k=4=$D/sleep-compute-ranked-v0-k4.jsonl" \
  "ranked k=8=$D/sleep-compute-ranked-v0-k8.jsonl"
# Round 4's screen on the whole dev split: compute k=1's notes answered by picking a line, against answering.
DA=$HERE/dev-all
if [ -f "$DA/sleep-compute-v0.jsonl" ]; then
  table dev-all-table-pick "compute k=1, answer v0" "$DA/sleep-compute-v0.jsonl" \
    "compute k=1, pick=$DA/sleep-compute-pick.jsonl"
fi

T=$HERE/test
table test-table "test-only v3" "$STD/rows/7211c54413d6.jsonl" \
  "compute=$T/sleep-compute-v0.jsonl" "compute k=2=$T/sleep-compute-v0-k2.jsonl" \
  "compute k=4=$T/sleep-compute-v0-k4.jsonl" "compute k=8=$T/sleep-compute-v0-k8.jsonl" \
  "notes=$STD/latency/edfce045fa52-warm.jsonl" "notes k=2=$STD/rows/8b658ae2f8ab.jsonl" \
  "notes k=4=$STD/rows/a64b6f108bd3.jsonl" "test-only v0=$STD/latency/17bd34d3c3e3-warm.jsonl" \
  "test-only v1=$STD/reruns/31aa6e03d1bd.jsonl" "test-only v2=$STD/rows/5c2d2a984249.jsonl"

# Scaling sleep compute (PROTOCOL.md step 3 and round 2), every point against the cheapest, today's notes k=1,
# at test verbosity 0: notes k=1, 2, 4; compute k=1, 2, 4, 8 combined by agreement; the same programs combined
# by union at k=2, 4, 8 (at k=1 both rules are compute k=1), and ranked (round 3) if its dev rule passed;
# test-only v3 as the line to reach.
table scaling-table "notes k=1" "$STD/latency/edfce045fa52-warm.jsonl" \
  "notes k=2=$STD/rows/8b658ae2f8ab.jsonl" "notes k=4=$STD/rows/a64b6f108bd3.jsonl" \
  "compute k=1=$T/sleep-compute-v0.jsonl" "compute k=2=$T/sleep-compute-v0-k2.jsonl" \
  "compute k=4=$T/sleep-compute-v0-k4.jsonl" "compute k=8=$T/sleep-compute-v0-k8.jsonl" \
  "union k=2=$T/sleep-compute-union-v0-k2.jsonl" "union k=4=$T/sleep-compute-union-v0-k4.jsonl" \
  "union k=8=$T/sleep-compute-union-v0-k8.jsonl" "union k=16=$T/sleep-compute-union-v0-k16.jsonl" \
  "ranked k=2=$T/sleep-compute-ranked-v0-k2.jsonl" \
  "ranked k=4=$T/sleep-compute-ranked-v0-k4.jsonl" "ranked k=8=$T/sleep-compute-ranked-v0-k8.jsonl" \
  "test-only v3=$STD/rows/7211c54413d6.jsonl"

# The 0.5B answering from the 1.5B's notes (compute k=1, and union k=8, the 1.5B's best point on test), against
# today's notes read by the same 0.5B (1 slot).
table test-table-0.5b "notes (0.5B answers)" "$STD05/rows/92d24450855a.jsonl" \
  "compute (0.5B answers)=$T/sleep-compute-v0-answer-qwen2.5-coder-0.5b.jsonl" \
  "union k=8 (0.5B answers)=$T/sleep-compute-union-v0-k8-answer-qwen2.5-coder-0.5b.jsonl" \
  "test-only v2 (0.5B)=$STD05/rows/b6221da0bfe5.jsonl"

# GSM-Symbolic (PROTOCOL.md rule 11): published rows (no instance text). The union curve's points read union
# k=8's programs; a point whose run is not complete is left out and named.
G=$HERE/gsm-symbolic
if [ -f "$G/test-only-v3.jsonl" ]; then
  table gsm-symbolic-table "test-only v3" "$G/test-only-v3.jsonl" "compute=$G/sleep-compute-v0.jsonl" \
    "union k=2=$G/sleep-compute-union-v0-k2.jsonl" "union k=4=$G/sleep-compute-union-v0-k4.jsonl" \
    "union k=8=$G/sleep-compute-union-v0-k8.jsonl"
fi
# Its scaling curve (rule 12) starts at notes k=1, test's cheapest point: the compile study's hand-written program
# on the same 147 questions (the same prompts, data file and server settings).
if [ -f "$G/sleep-compute-union-v0-k8.jsonl" ] && \
   [ "$(questions "$G/sleep-compute-union-v0-k8.jsonl")" -ge "$(questions "$G/sleep-compute-v0.jsonl")" ]; then
  table gsm-symbolic-scaling-table "notes k=1" "docs/benchmarks/compiled/1.5b-1.5b/protocol/gsm-symbolic-handwritten.jsonl" \
    "compute k=1=$G/sleep-compute-v0.jsonl" "union k=2=$G/sleep-compute-union-v0-k2.jsonl" \
    "union k=4=$G/sleep-compute-union-v0-k4.jsonl" "union k=8=$G/sleep-compute-union-v0-k8.jsonl" \
    "test-only v3=$G/test-only-v3.jsonl"
fi
# The 0.5B answering from the 1.5B's notes on GSM-Symbolic (rule 14): union k=8's against notes k=1's.
if [ -f "$G/sleep-notes-v0-answer-qwen2.5-coder-0.5b.jsonl" ]; then
  table gsm-symbolic-table-0.5b "notes (0.5B answers)" "$G/sleep-notes-v0-answer-qwen2.5-coder-0.5b.jsonl" \
    "union k=8 (0.5B answers)=$G/sleep-compute-union-v0-k8-answer-qwen2.5-coder-0.5b.jsonl"
fi
python3 "$HERE/summary_table.py"  # issue 25's closing table, from the tables above
