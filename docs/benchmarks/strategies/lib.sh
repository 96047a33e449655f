# Shell helpers of the strategy study's scripts (tables.sh, catch-up.sh), sourced, not run.

questions() {  # FILE -> questions it answered (a retried question's later row replaces its first); 0 if absent
  [ -f "$1" ] || { echo 0; return; }
  python3 -c 'import json, sys; print(len({json.loads(l)["question_id"] for l in open(sys.argv[1]) if l.strip()}))' "$1"
}
