#!/usr/bin/env bash
# The crash test's large form: `kill -9` of `everynode up` at random moments of a rollout over
# NODES simulated nodes, KILLS times per run, for RUNS runs with different seeds; every run
# checks that no acknowledged write is lost, the rollout completes, no node runs two daemon
# pods and no daemon pod lost its owner (crates/everynode/tests/crash.rs).
#   scripts/crash-test.sh [NODES] [KILLS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${1:-500}
kills=${2:-10}
runs=${3:-5}
for run in $(seq 1 "$runs"); do
  seed=$RANDOM$RANDOM
  echo "run $run of $runs: $nodes nodes, $kills kills, seed $seed"
  EVERYNODE_CRASH_NODES=$nodes EVERYNODE_CRASH_KILLS=$kills EVERYNODE_CRASH_SEED=$seed \
    cargo test --release -q -p everynode --test crash -- --nocapture 2>&1 |
    grep -E '^(crash test|kill |[0-9]+ writes|test result)|panicked|lost|two daemon|owner'
done
