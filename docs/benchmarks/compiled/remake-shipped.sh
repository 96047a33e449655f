#!/usr/bin/env bash
# Re-make the shipped whole-program BootstrapFewShot programs (1.5B in both phases) under the selection
# protocol (optimize/experiments/selection.py), instead of choosing among draws with their test results in view.
# Run from the repository root, on the machine with the local 1.5B; resumable (each step keeps its rows).
#
#   bash docs/benchmarks/compiled/remake-shipped.sh
#
# 1. compile --draws 3: the study's three draws (draw 0 in data order, draws 1 and 2 shuffled with seeds 1
#    and 2, on the study's 50 train questions) and the hand-written program each answer the WHOLE dev split
#    (238 questions, 63 contexts, 9 templates; each candidate makes its own notes, ~50 min each on 2 cores);
#    the rule fixed in optimize/experiments/selection.py picks one, or the hand-written program. The manifest records
#    the rule, every dev score with its clustered interval, the set's size and detectable difference, and
#    the spread over draws. No test row exists before this step ends.
# 2. Only the chosen program answers the test split and GSM-Symbolic (held out from selection).
# 3. compare pairs it with the hand-written rows (one comparison: no family to correct for). GSM-Symbolic's
#    rows stay under mlruns/ (third-party text); their published copies (`rows publish`) are committed here.
# If the choice is the hand-written program, nothing compiled ships: say so in BENCHMARKS.md and remove
# (or keep marked as not under the protocol) the two shipped bundles.
set -euo pipefail
out=docs/benchmarks/compiled/1.5b-1.5b/protocol
store=${SLEEPTIME_STUDY_STORE:-mlruns/store.sqlite}
export SLEEPTIME_LOCAL_SLOTS=1  # every row of the comparison at the same server settings
budget=(--sleep-model local:qwen2.5-coder-1.5b --test-model local:qwen2.5-coder-1.5b --test-verbosity 0
        --test-max-tokens 256 --sleep-max-tokens 512)
mkdir -p "$out"

if [ ! -f "$out/program/manifest.json" ]; then
  python3 -m optimize compile "${budget[@]}" --optimizer bootstrap --phase both --max-demos 2 \
    --train-contexts 14 --draws 3 --select-on dev --out-dir "$out/program"
fi
python3 - "$out/program/manifest.json" <<'PY'
import json, sys
selection = json.load(open(sys.argv[1]))["selection"]
print("chosen:", selection["chosen"]["name"], "| dev questions:", selection["set"]["questions"])
PY

python3 -m optimize evaluate --split test "${budget[@]}" --store "$store" --out "$out/handwritten-test.jsonl"
python3 -m optimize evaluate --split test --program "$out/program" --store "$store" --out "$out/chosen-test.jsonl"
python3 -m optimize compare "$out/handwritten-test.jsonl" "chosen=$out/program:$out/chosen-test.jsonl" \
  --baseline-name hand-written --out "$out/test-table.md"

heldout=mlruns/gsm-symbolic-heldout.jsonl  # made as in BENCHMARKS.md (third-party: not committed)
local=mlruns/gsm-symbolic-compiled
if [ -f "$heldout" ]; then
  held=(--data "$heldout" --split all --contexts 147 --store "$store")
  for name in handwritten chosen; do  # resume from the published copies on a new machine
    if [ ! -f "$local/protocol-$name.jsonl" ] && [ -f "$out/gsm-symbolic-$name.jsonl" ]; then
      mkdir -p "$local" && cp "$out/gsm-symbolic-$name.jsonl" "$local/protocol-$name.jsonl"
      cp "$out/gsm-symbolic-$name.jsonl.config.json" "$local/protocol-$name.jsonl.config.json"
    fi
  done
  python3 -m optimize evaluate "${held[@]}" "${budget[@]}" --out "$local/protocol-handwritten.jsonl"
  python3 -m optimize evaluate "${held[@]}" --program "$out/program" --out "$local/protocol-chosen.jsonl"
  for name in handwritten chosen; do  # the rows without the instances' text, committed: claims recompute them
    python3 -m optimize rows publish "$local/protocol-$name.jsonl" --out "$out/gsm-symbolic-$name.jsonl"
  done
  python3 -m optimize compare "$out/gsm-symbolic-handwritten.jsonl" \
    "chosen=$out/program:$out/gsm-symbolic-chosen.jsonl" --baseline-name hand-written \
    --out "$out/gsm-symbolic-table.md"
else
  echo "GSM-Symbolic held-out file $heldout missing: make it as BENCHMARKS.md says, then rerun" >&2
fi
# 4. Ship: if a draw was chosen, its bundle goes to programs/compiled/ with the selection record and both
#    held-out results in its manifest (the draws/ and selection/ folders stay here as the record). Draw 2 is
#    byte for byte the program that shipped as sleep-v0-bootstrap-seed2, so it keeps that name.
python3 docs/benchmarks/compiled/ship_chosen.py "$out" programs/compiled/qwen2.5-coder-1.5b/sleep-v0-bootstrap-seed2
