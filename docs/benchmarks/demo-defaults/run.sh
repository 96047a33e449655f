#!/usr/bin/env bash
cd "$(git rev-parse --show-toplevel)"

S=local:qwen2.5-coder-1.5b; T=local:qwen2.5-coder-0.5b
ev() { n=$1; shift; echo "== $n $(date -u +%T)"; /usr/bin/time -f "wall %e s" python3 -m optimize evaluate --split dev --n 24 --store mlruns/demo-defaults.sqlite --out docs/benchmarks/demo-defaults/$n.jsonl "$@" 2>&1 | grep -v "it/s\|q/s\|s/q" | tail -n 14; }
ev A-sleep-v0 --model $S --test-verbosity 0
ev A-test-v0 --model $S --no-use-sleep --test-verbosity 0
ev B-sleep-v0 --sleep-model $S --test-model $T --test-verbosity 0
ev B-test-v0 --model $T --no-use-sleep --test-verbosity 0
ev B-sleep-v1 --sleep-model $S --test-model $T --test-verbosity 1
ev B-test-v1 --model $T --no-use-sleep --test-verbosity 1
ev A-test-v1 --model $S --no-use-sleep --test-verbosity 1
ev B-test-v3 --model $T --no-use-sleep --test-verbosity 3
echo ALLDONE
