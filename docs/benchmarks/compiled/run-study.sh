#!/usr/bin/env bash
# Compiled vs hand-written on the test split, for one model setting; resumable (a compiled program whose
# program.json exists is not compiled again; evaluate resumes its --out rows). Run from the repository root:
#
#   bash docs/benchmarks/compiled/run-study.sh 1.5b-0.5b  [optimizer ...]
#   bash docs/benchmarks/compiled/run-study.sh 1.5b-1.5b  [optimizer ...]
#
# By default the test phase is compiled alone (--phase test): every candidate reads the same hand-written
# 1.5B notes from one learned-context store, made once per context. A variant named sleep-<optimizer>
# compiles the sleep phase alone (--phase sleep) with the metric on the answers, the answerer hand-written;
# its notes are new, so the store makes them once per context for that program. Train: every question of 14
# train contexts spread across templates (50 questions); selection: 8 dev contexts (30 questions); report:
# the whole test split.
set -euo pipefail
setting=${1:?usage: run-study.sh 1.5b-0.5b|1.5b-1.5b [optimizer ...]}
shift
optimizers=("$@")
big=local:qwen2.5-coder-1.5b
case "$setting" in
  1.5b-0.5b) test_model=local:qwen2.5-coder-0.5b
             defaults=(bootstrap teacher random-search mipro simba gepa sleep-bootstrap) ;;
  # The 1.5B teaching itself is plain bootstrap: no teacher variant.
  1.5b-1.5b) test_model=$big
             defaults=(bootstrap random-search mipro gepa sleep-bootstrap simba) ;;
  *) echo "error: unknown setting $setting (1.5b-0.5b or 1.5b-1.5b)" >&2; exit 2 ;;
esac
[ ${#optimizers[@]} -gt 0 ] || optimizers=("${defaults[@]}")
out=docs/benchmarks/compiled/$setting
store=${SLEEPTIME_STUDY_STORE:-mlruns/compile-study-store.sqlite}
budget=(--sleep-model "$big" --test-model "$test_model" --test-verbosity 0 --test-max-tokens 256
        --sleep-max-tokens 512)
mkdir -p "$out/programs"

python3 -m optimize evaluate --split test "${budget[@]}" --store "$store" --out "$out/handwritten.jsonl"

variants=()
for name in "${optimizers[@]}"; do
  program=$out/programs/$name
  phase=test
  optimizer=$name
  if [[ $name == sleep-* ]]; then phase=sleep; optimizer=${name#sleep-}; fi
  case "$optimizer" in
    teacher) how=(--optimizer bootstrap --teacher-model "$big") ;;
    mipro|simba|gepa) how=(--optimizer "$optimizer" --reflection-model "$big") ;;
    *) how=(--optimizer "$optimizer") ;;
  esac
  if [ ! -f "$program/program.json" ]; then
    python3 -m optimize compile "${budget[@]}" "${how[@]}" --phase "$phase" --max-demos 2 \
      --train-contexts 14 --dev-contexts 8 --store "$store" --out-dir "$program"
  fi
  python3 -m optimize evaluate --split test --program "$program" --store "$store" --out "$out/$name.jsonl"
  variants+=("$name=$program:$out/$name.jsonl")
done
python3 -m optimize compare "$out/handwritten.jsonl" "${variants[@]}" --baseline-name hand-written \
  --out "$out/table.md"
