// `anyprec doctor`: what this installation runs on (platform, addon file, ISA, threads) and a
// self-test: the bit-serial GEMM, on every ISA this CPU offers and on both of its paths (bit-serial
// and int8), compared bit for bit with a plain JavaScript reference on small odd shapes. A CPU or a
// build that computes wrong sums fails here, loudly, with the case that differs.
import type { Command } from 'commander';
import { kernels } from '../index';
import type { EncodingName } from '../index';
import { addonPath, platformFacts } from '../core/native';

type Path = 'bitserial' | 'int8';

interface SelfTestResult {
  ok: boolean;
  cases: number;
  ms: number;
  isas: string[];
  failures: string[];
}

/** The integer a code stands for in an encoding (packed with `bits` planes). */
function value(q: number, bits: number, enc: EncodingName): number {
  if (enc === 'unsigned') return q;
  if (enc === 'bipolar') return 2 * q - (2 ** bits - 1);
  return q >= 2 ** (bits - 1) ? q - 2 ** bits : q; // signed: two's complement
}

function codes(n: number, bits: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 24) & ((1 << bits) - 1);
  }
  return out;
}

const ENCODING_PAIRS: Array<[EncodingName, EncodingName]> = [
  ['unsigned', 'bipolar'], ['unsigned', 'unsigned'], ['signed', 'signed'], ['bipolar', 'bipolar'],
];

type Gemm = (a: ReturnType<typeof kernels.pack>, b: ReturnType<typeof kernels.pack>,
  o: { aEncoding: EncodingName; bEncoding: EncodingName; path: Path }) => ArrayLike<number>;

/**
 * Every ISA x path x encoding pair x (aBits, bBits) in 1..8, on M x K by N x K with K across a
 * word edge. `gemm` is the function under test (kernels.bitGemm; the tests pass a broken one).
 */
export function selfTest(gemm: Gemm = kernels.bitGemm): SelfTestResult {
  const M = 3;
  const N = 5;
  const K = 67; // one 64-bit word and a partial one
  const before = kernels.isa();
  const pathBefore = kernels.gemmPathSetting();
  const failures: string[] = [];
  let cases = 0;
  const t0 = performance.now();
  try {
    for (const [aEnc, bEnc] of ENCODING_PAIRS) {
      for (let aBits = 1; aBits <= 8; aBits++) {
        for (let bBits = 1; bBits <= 8; bBits++) {
          const a = codes(M * K, aBits, 7 * aBits + bBits);
          const b = codes(N * K, bBits, 131 * bBits + aBits);
          const want = new Int32Array(M * N);
          for (let i = 0; i < M; i++) {
            for (let j = 0; j < N; j++) {
              let sum = 0;
              for (let k = 0; k < K; k++) sum += value(a[i * K + k], aBits, aEnc) * value(b[j * K + k], bBits, bEnc);
              want[i * N + j] = sum;
            }
          }
          const A = kernels.pack(a, M, K, aBits);
          const B = kernels.pack(b, N, K, bBits);
          for (const isa of kernels.availableIsas()) {
            kernels.setIsa(isa);
            for (const path of ['bitserial', 'int8'] as Path[]) {
              cases++;
              const got = gemm(A, B, { aEncoding: aEnc, bEncoding: bEnc, path });
              const bad = want.findIndex((v, i) => got[i] !== v);
              if (bad >= 0) {
                failures.push(`${isa} ${path} ${aEnc} a${aBits} x ${bEnc} w${bBits}: C[${Math.floor(bad / N)}, ${bad % N}] = ${got[bad]}, expected ${want[bad]}`);
              }
            }
          }
        }
      }
    }
  } finally {
    kernels.setIsa(before);
    kernels.setGemmPath(pathBefore);
  }
  return { ok: failures.length === 0, cases, ms: performance.now() - t0, isas: kernels.availableIsas(), failures };
}

function doctor(o: { json?: boolean }): void {
  const facts = platformFacts();
  const info = {
    platform: facts, addon: addonPath, isa: kernels.isa(), availableIsas: kernels.availableIsas(),
    isaFromEnvironment: process.env.ANYPREC_ISA ?? null, int8Kernel: kernels.int8Kernel(),
    threads: kernels.threads(), hardwareThreads: kernels.hardwareThreads(), loadSelfTest: kernels.loadSelfTest(),
  };
  const test = selfTest();
  if (o.json) {
    console.log(JSON.stringify({ ...info, selfTest: test }, null, 2));
  } else {
    console.log(`platform   ${facts.platform}-${facts.arch}, ${facts.libc}, Node ${facts.node} (ABI ${facts.abi}, N-API ${facts.napi})`);
    console.log(`addon      ${info.addon}`);
    console.log(`isa        ${info.isa} (available: ${info.availableIsas.join(', ')}${info.isaFromEnvironment ? `; ANYPREC_ISA=${info.isaFromEnvironment}` : ''})`);
    console.log(`int8       ${info.int8Kernel} kernel for the int8 path`);
    console.log(`threads    ${info.threads} kernel thread(s) per call (hardware threads: ${info.hardwareThreads})`);
    const lt = info.loadSelfTest;
    console.log(`load test  ${lt.ok ? 'ok' : `FAILED (${lt.error})`}: the ${lt.isa} kernels against the scalar reference when the addon loaded, ${lt.micros.toFixed(0)} µs`);
    console.log(`self-test  ${test.ok ? 'ok' : 'FAILED'}: ${test.cases} GEMMs (${test.isas.length} ISAs x bit-serial and int8 paths x ${ENCODING_PAIRS.length} encoding pairs x bits 1..8 x 1..8) ` +
      `against a JavaScript reference, bit for bit, in ${test.ms.toFixed(1)} ms`);
    for (const f of test.failures.slice(0, 20)) console.log(`  differs: ${f}`);
    if (test.failures.length > 20) console.log(`  ... and ${test.failures.length - 20} more`);
  }
  if (!test.ok) process.exitCode = 1;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('print the platform, addon file, ISA and threads, and check the kernels bit for bit against a JavaScript reference')
    .option('--json', 'print it as JSON')
    .action((o: { json?: boolean }) => doctor(o));
}
