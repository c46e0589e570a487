#!/usr/bin/env bash
# Trains the model bundled in models/mnist (what `anyprec demo` runs): an any-precision ResNet-20
# over bits 1,2,4,8,32 (32 = float), 15 epochs, seed 0, batches of 32, training digits shifted by up
# to 2 pixels, on all 8,000 training digits of the fixed MNIST split (as the reference code trained;
# the 2,000 test digits are touched once, for the final numbers), one kernel thread. The model file
# takes raw uint8 digits (its preprocessing is in the graph).
#
#   bash scripts/train-bundled.sh              # the full run (96 minutes on one thread of a shared Zen 3)
#
# Extra arguments go to `anyprec train` after the defaults (the last of a repeated option wins; e.g.
# --threads 2 is faster; the shipped model was trained on one thread). MNIST_DIR: a directory with mnist10k.bin, mnist10k-labels.bin and split.json (default: the
# reference fixtures the tests read). Writes models/mnist/resnet20-any.anyprec and its run record
# (.json), and the 2,000 test digits the demo classifies (test-digits.u8, test-labels.u8); the
# checkpoint goes to runs/ (resume with --resume runs/bundled.ckpt).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${MNIST_DIR:-$root/../shared/fixtures/mnist}"
[ -f "$root/dist/cli/main.js" ] || { echo "build first: npm run build" >&2; exit 1; }
mkdir -p "$root/runs"
node "$root/scripts/bundle-test-digits.cjs" "$data"   # the digits the demo classifies (the same test split)
exec node "$root/dist/cli/main.js" train --data "$data" --arch resnet20 --method any --bits 1,2,4,8,32 \
  --epochs 15 --seed 0 --batch 32 --augment-shift 2 --validation 0 --threads 1 --out "$root/models/mnist/resnet20-any.anyprec" --checkpoint "$root/runs/bundled.ckpt" "$@"
