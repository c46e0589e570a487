// The reference fixtures in ../shared/fixtures (golden outputs of the PyTorch reference code)
// and the MNIST test split they were evaluated on.
import * as fs from 'fs';
import * as path from 'path';

import * as shared from './shared/fixtures';

export const FIXTURES = path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures');

/** A fixture file; fails the test (not skips it) when ../shared/fixtures is missing. */
export function fixturePath(...parts: string[]): string {
  const p = path.join(FIXTURES, ...parts);
  if (!fs.existsSync(p)) {
    throw new Error(`fixture ${p} is missing: the tests expect the shared fixtures at ${FIXTURES} ` +
      '(a checkout of ../shared beside the repository, as CI has)');
  }
  return p;
}

/** A little-endian float32 file (the body is shared with the benchmarks: ./shared/fixtures.js). */
export const readFloat32: (file: string) => Float32Array = shared.readFloat32;

/** The 2,000 test digits (split.json "test") with labels, preprocessed as the fixtures' inputs.json says:
 * pad 28x28 to size x size with zeros, x = (p/255 - 0.1307)/0.3081 in float32, channel copied. */
export function mnistTest(size = 32, channels = 3): { x: Float32Array; labels: Uint8Array; n: number } {
  fixturePath('mnist', 'split.json'); // fails (not skips) with a clear message when the fixtures are missing
  const { x, labels, n } = shared.mnistDigits(FIXTURES, { size, channels, normalize: true, split: 'test' });
  return { x, labels, n };
}
