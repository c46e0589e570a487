// Writes the demo's digits: the 2,000 test digits of the fixed MNIST split, in split order, as
// models/mnist/test-digits.u8 (2000 x 784 uint8, 28x28 row-major) and test-labels.u8 (2000 uint8).
// Usage: node scripts/bundle-test-digits.cjs <mnist dir: mnist10k.bin, mnist10k-labels.bin, split.json>
'use strict';
const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/bundle-test-digits.cjs <mnist dir>');
  process.exit(2);
}
const images = fs.readFileSync(path.join(dir, 'mnist10k.bin'));
const labels = fs.readFileSync(path.join(dir, 'mnist10k-labels.bin'));
const split = JSON.parse(fs.readFileSync(path.join(dir, 'split.json'), 'utf8'));
if (images.length !== labels.length * 784) throw new Error(`mnist10k.bin must hold ${labels.length} x 784 bytes`);
const test = split.test;
const digits = Buffer.alloc(test.length * 784), out = Buffer.alloc(test.length);
test.forEach((idx, i) => {
  images.copy(digits, i * 784, idx * 784, (idx + 1) * 784);
  out[i] = labels[idx];
});
const dest = path.join(__dirname, '..', 'models', 'mnist');
fs.mkdirSync(dest, { recursive: true });
fs.writeFileSync(path.join(dest, 'test-digits.u8'), digits);
fs.writeFileSync(path.join(dest, 'test-labels.u8'), out);
console.log(`${test.length} test digits -> ${path.relative(process.cwd(), dest)}/test-digits.u8, test-labels.u8`);
