#!/usr/bin/env bash
# The short training sweeps of the reproduction table (issue 13), each run recorded as JSON:
#
#   bash scripts/repro-sweeps.sh pg        # PG's sparsity knob: --gate-on targets at B/Bhb = 3/2 and 4/2
#                                          # (PAIRS="3/2", TARGETS="0.02 0.3": a subset)
#   bash scripts/repro-sweeps.sh ldp       # LDP at several penalties vs uniform fixed-precision models
#   node scripts/repro-table.mjs docs/train-runs # the table of every record
#
# Sweeps are short by design (two shared vCPUs): ResNet-8 (1x28x28 digits), one epoch on the first
# TRAIN_LIMIT training digits (default 2000), seed 0, one thread, the CLI's defaults otherwise;
# the table says so (epochs, training digits). Models go to RUNS (default runs/sweeps, git-ignored);
# the run records (<model>.json) are copied to RECORDS (default docs/train-runs). MNIST_DIR: a directory
# with mnist10k.bin, mnist10k-labels.bin and split.json (default: the reference fixtures).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${MNIST_DIR:-$root/../shared/fixtures/mnist}"
cli="${ANYPREC_CLI:-$root/dist/cli/main.js}" # (another build of the CLI: ANYPREC_CLI)
[ -f "$cli" ] || { echo "build first: npm run build" >&2; exit 1; }
runs="${RUNS:-$root/runs/sweeps}"
records="${RECORDS:-$root/docs/train-runs}"
mkdir -p "$runs" "$records"
common=(--arch resnet8 --epochs 1 --train-limit "${TRAIN_LIMIT:-2000}" --seed 0 --threads 1 --data "$data" --json)

run() { # name, then anyprec train arguments
  local name="$1"; shift
  node "$cli" train "${common[@]}" --out "$runs/$name.anyprec" "$@"
  # the record, its model named without this machine's path
  node -e 'const fs = require("fs"), path = require("path"), [src, dst] = process.argv.slice(1);
    const r = JSON.parse(fs.readFileSync(src, "utf8")); r.model = path.basename(r.model);
    fs.writeFileSync(dst, JSON.stringify(r, null, 2) + "\n");' "$runs/$name.anyprec.json" "$records/$name.json"
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
    for b in 1 2 3 4 6 8; do run "fixed-$b" --method fixed --bits "$b" --lr 1e-2 --batch 32; done
    for p in 0.5 2 8; do run "ldp-p$p" --method ldp --penalty "$p" --lr 1e-2 --batch 32; done
    ;;
  *) echo "usage: bash scripts/repro-sweeps.sh pg|ldp" >&2; exit 2 ;;
esac
