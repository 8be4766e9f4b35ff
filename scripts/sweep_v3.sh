#!/usr/bin/env bash
# E2Rank-mini v3 sweep (docs/training.md): prompt pooling {mean, query} x k {3, 5, 10, 20} with the v2 recipe
# (variant C), 250 validation queries, two runs at a time on one thread each. Each run's folder holds its
# adapter, train_log.jsonl and stdout; the logs are copied to docs/training-logs/v3/.
# Usage: scripts/sweep_v3.sh RUNS_DIR [STEPS]
set -uo pipefail
runs="${1:?runs folder}"; steps="${2:-90}"
mkdir -p "$runs"
job() {  # name pooling k
  local out="$runs/$1"
  mkdir -p "$out"
  python -m e2rank_demo train --data ../shared/data/scifact --model minilm --lr 1e-3 --ranknet-weight 4 \
      --snippets query --teacher dense --distill-weight 2 --threads 1 --val-queries 250 --steps "$steps" \
      --prompt-pooling "$2" --prompt-docs "$3" --out "$out" > "$out/stdout.log" 2>&1
  echo "$1 rc=$?" >> "$runs/done.txt"
}
export -f job
export runs steps
printf '%s\n' "query 5" "mean 5" "query 3" "mean 3" "query 10" "mean 10" "query 20" "mean 20" |
  xargs -P 2 -L 1 bash -c 'job "$0-k$1" "$0" "$1"'
