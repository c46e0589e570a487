#!/usr/bin/env bash
# The short training sweeps of the reproduction table (issue 13), each run recorded as JSON:
#
#   bash scripts/repro-sweeps.sh pg        # PG's sparsity knob: --gate-on targets at B/Bhb = 3/2 and 4/2
#                                          # (PAIRS="3/2", TARGETS="0.02 0.3": a subset)
#   bash scripts/repro-sweeps.sh ldp       # LDP at several bit-op budgets vs uniform fixed-precision models:
#                                          # the budgets (--target) are the uniform 2-, 3- and 4-bit models'
#                                          # bit-ops (BITS="2 4", BUDGETS="0.25", PENALTIES="2 8": a subset; BITS="": none)
#   bash scripts/repro-sweeps.sh sp        # SP's switches vs dedicated models: one SP run, and per switch
#                                          # an SP run with that switch alone (1-bit weights, the same steps)
#   node scripts/repro-table.mjs docs/train-runs # the table of every record (--charts docs/train-runs: its charts)
#
# Sweeps are short by design (two shared vCPUs): ResNet-8 (1x28x28 digits), EPOCHS (default 1) on the
# first TRAIN_LIMIT training digits (default 2000), each seed of SEEDS (default 0), one thread, the
# CLI's defaults otherwise; the table says so (epochs, training digits, seed). Models go to RUNS
# (default runs/sweeps, git-ignored); the run records (<model>.json) are copied to RECORDS (default
# docs/train-runs), named <run>[-n<digits>-e<epochs>][-s<seed>] (the suffixes where not the default).
# MNIST_DIR: a directory with mnist10k.bin, mnist10k-labels.bin and split.json (default: the
# reference fixtures).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${MNIST_DIR:-$root/../shared/fixtures/mnist}"
cli="${ANYPREC_CLI:-$root/dist/cli/main.js}" # (another build of the CLI: ANYPREC_CLI)
[ -f "$cli" ] || { echo "build first: npm run build" >&2; exit 1; }
runs="${RUNS:-$root/runs/sweeps}"
records="${RECORDS:-$root/docs/train-runs}"
limit="${TRAIN_LIMIT:-2000}" epochs="${EPOCHS:-1}"
mkdir -p "$runs" "$records"
size=""
[ "$limit" = 2000 ] && [ "$epochs" = 1 ] || size="-n$limit-e$epochs"

run() { # name, then anyprec train arguments; once per seed
  local name="$1" seed tag; shift
  for seed in ${SEEDS:-0}; do
    tag="$name$size"
    [ "$seed" = 0 ] || tag="$tag-s$seed"
    node "$cli" train --arch resnet8 --epochs "$epochs" --train-limit "$limit" --seed "$seed" --threads 1 --data "$data" --json \
      --out "$runs/$tag.anyprec" "$@"
    # the record, its model named without this machine's path
    node -e 'const fs = require("fs"), path = require("path"), [src, dst] = process.argv.slice(1);
      const r = JSON.parse(fs.readFileSync(src, "utf8")); r.model = path.basename(r.model);
      fs.writeFileSync(dst, JSON.stringify(r, null, 2) + "\n");' "$runs/$tag.anyprec.json" "$records/$tag.json"
  done
}

case "${1:-}" in
  pg)
    for bh in ${PAIRS:-3/2 4/2}; do
      b="${bh%/*}" h="${bh#*/}"
      for f in ${TARGETS:-0.02 0.1 0.3 0.6 0.98}; do run "pg-$b-$h-on$f" --method pg --bits "$b" --high-bits "$h" --gate-on "$f" --gate-weight 4; done
    done
    ;;
  ldp)
    # the same steps for both: the short-run defaults of ldp (lr 1e-2, batches of 32) given to fixed as well
    for b in ${BITS-1 2 3 4 6 8}; do run "fixed-$b" --method fixed --bits "$b" --lr 1e-2 --batch 32; done
    # (the penalty only acts above its target, so the target, not λ, sets where a run ends up)
    for p in ${PENALTIES-2}; do
      for t in ${BUDGETS-0.0625 0.1406 0.25}; do run "ldp-p$p-t$t" --method ldp --penalty "$p" --target "$t" --lr 1e-2 --batch 32; done
    done
    ;;
  sp)
    # the dedicated models: SP with one switch (its own 1-bit weights, batch norm and labels), the same
    # optimiser steps as the switchable run (one per batch; the switchable run sums its switches' gradients)
    switches="${SWITCHES:-32,8,4,2,1}"
    # (ONLY=dedicated or ONLY=switchable: one half; DEDICATED="2 1": those switches' dedicated models)
    [ "${ONLY:-}" = dedicated ] || run "sp-switches" --method sp --act-bits "$switches" --lr 1e-2 --batch 32
    if [ "${ONLY:-}" != switchable ]; then
      for a in ${DEDICATED-${switches//,/ }}; do run "sp-dedicated-a$a" --method sp --act-bits "$a" --lr 1e-2 --batch 32; done
    fi
    ;;
  *) echo "usage: bash scripts/repro-sweeps.sh pg|ldp|sp" >&2; exit 2 ;;
esac
