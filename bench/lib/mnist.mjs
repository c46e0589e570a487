// The shared reference fixtures (../shared/fixtures: fixture A's ResNet-20 and the MNIST test
// split it was evaluated on), loaded the way test/helpers/fixtures.ts loads them.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { root } from './machine.mjs';

const require = createRequire(import.meta.url);
const shared = require('../../test/helpers/shared/fixtures.js');

/** The fixtures directory: $ANYPREC_FIXTURES, else ../shared/fixtures beside the checkout (or one level up, for a worktree). */
export function fixturesDir() {
  const candidates = [process.env.ANYPREC_FIXTURES, path.resolve(root, '..', 'shared', 'fixtures'), path.resolve(root, '..', '..', 'shared', 'fixtures')];
  return candidates.find((d) => d && fs.existsSync(path.join(d, 'mnist', 'split.json'))) ?? null;
}

/** A little-endian float32 file (shared with the jest tests: test/helpers/shared/fixtures.js). */
export const readFloat32 = shared.readFloat32;

/**
 * MNIST digits of split.json with labels (default: the 2,000 test digits). `normalize`: the
 * fixtures' recipe (pad 28×28 to `size`, x = (p/255 − 0.1307)/0.3081 in float32, the channel
 * copied `channels` times), as fixture A was evaluated; otherwise p/255 in [0, 1] (what the MNIST
 * MLP/CNN of the zoo take). `split` 'train' (8,000 digits, disjoint from the test ones) and
 * `limit` (the first n) pick other digits, e.g. calibration data for a quantised baseline.
 * Returns { x, labels, n, per }.
 */
export function mnistTest(dir, opts = {}) {
  return shared.mnistDigits(dir, opts);
}
