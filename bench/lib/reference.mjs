// Plain-JS references the benchmark checks its subjects against (the value of a code in each
// anyprec encoding, reference GEMMs and single entries for big shapes) and the seeded PRNG that
// makes runs reproducible. One copy, shared with the jest tests: test/helpers/shared/reference.js.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const shared = require('../../test/helpers/shared/reference.js');

export const {
  makeRng, codeValue, randomBytes, randomFloats, randomInt8, randomCodes, bitGemmEntry, bitGemmReference,
  matMulEntry, probePositions, firstDiff, shapeName, gemmRef, values,
} = shared;
