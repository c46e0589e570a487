// bench:gemm, the anyprec side of a shape: the (aBits, bBits) specs, the blocks of bitGemm / pack /
// popcount-ceiling cases per ISA and thread count, the exactness check on a small odd shape, what
// anyprec says about its GEMM paths, and the planning helpers the rounds use.
import { log, secs } from './cli.mjs';
import { makeCase, plannedMs, planReps, summarize, warmup } from './cases.mjs';
import { timeOnce } from './measure.mjs';
import { bitGemmReference, randomBytes } from './reference.mjs';

export const pairName = (c) => `${c.aBits}×${c.bBits}${c.aEncoding === 'bipolar' ? ' xnor' : ''}`;

/** (aBits, bBits) pairs: unsigned activations × bipolar weights, plus 1×1 bipolar×bipolar. */
export function gemmSpecs(bits) {
  const specs = [];
  for (const aBits of bits) {
    for (const bBits of bits) specs.push({ aBits, bBits, aEncoding: 'unsigned', bEncoding: 'bipolar' });
  }
  if (bits.includes(1)) specs.push({ aBits: 1, bBits: 1, aEncoding: 'bipolar', bEncoding: 'bipolar' });
  return specs;
}

/**
 * planReps, then, while the plan is still over `budgetMs`, drops droppable cases. The headline
 * numbers are the best ISA's: the slowest ISA's cases go first (isaRank is the position in
 * availableIsas(), best first), the most expensive first within an ISA. Returns the planned
 * total in ms.
 */
export function planRepsOrDrop(cases, opts) {
  let total = planReps(cases, opts);
  const byCost = cases
    .filter((c) => !c.skipped && c.droppable)
    .sort((x, y) => (y.isaRank ?? 0) - (x.isaRank ?? 0) || y.estMs - x.estMs);
  for (const c of byCost) {
    if (total <= opts.budgetMs) break;
    c.skipped = `over the time budget (≈${secs(c.estMs)} per call)`;
    total = plannedMs(cases, opts);
  }
  return total;
}

/** warmup(), reporting a failed output check. */
export async function warmupChecked(c) {
  await warmup(c);
  if (c.checkResult && !c.checkResult.ok) log(`  !! ${c.id}: output check FAILED: ${c.checkResult.detail}`);
}

/** summarize(), with `check` (null: none) on every measured case. */
export function summary(c) {
  const s = summarize(c);
  return s.skipped ? s : { ...s, check: c.checkResult };
}

/** Every ISA and spec against the JS reference on an odd small shape (K and N off the tiles). */
export function verifyAnyprec(kernels, isas, specs, rng) {
  const m = 5, k = 200, n = 11;
  const codesA = randomBytes(rng, m * k);
  const codesB = randomBytes(rng, n * k);
  const a = kernels.pack(codesA, m, k, 8);
  const b = kernels.pack(codesB, n, k, 8);
  const result = {};
  for (const isa of isas) {
    kernels.setIsa(isa);
    kernels.setThreads(1);
    const failures = [];
    for (const spec of specs) {
      const got = kernels.bitGemm(a, b, spec);
      const want = bitGemmReference(codesA, codesB, m, k, n, spec);
      const bad = want.findIndex((v, i) => v !== got[i]);
      if (bad >= 0) failures.push(`${pairName(spec)}: C[${Math.floor(bad / n)}][${bad % n}] = ${got[bad]}, want ${want[bad]}`);
    }
    result[isa] = { shape: `${m}×${k}×${n}`, specs: specs.length, ok: failures.length === 0, failures };
    const matched = failures.length === 0 ? `all ${specs.length}` : `${specs.length - failures.length}/${specs.length}`;
    log(`  anyprec ${isa}: ${matched} specs match the JS reference`);
    for (const f of failures.slice(0, 5)) log(`    !! ${f}`);
  }
  return result;
}

/**
 * The anyprec cases of one shape, in blocks: every ISA at one thread (bitGemm for every spec,
 * pack(A) at every width, the popcount ceiling), then the best ISA at each further thread count
 * (bitGemm only). `operands`: packedA/packedB (8-bit packs), codesA, and `check(spec)`, the output
 * check of a bitGemm case. Returns { blocks, cases }.
 */
export async function anyprecBlocks(shape, ctx, operands) {
  const { kernels, opts, isas, specs } = ctx;
  const { m, k } = shape;
  const { packedA, packedB, codesA, check: checkGemm } = operands;
  // Activation codes at each width, for timing pack(A) the way a layer would call it.
  const codesAt = new Map(opts.bits.map((b) => [b, codesA.map((q) => q >> (8 - b))]));
  // Blocks of anyprec cases: every ISA at one thread (with its popcount ceiling and pack(A)),
  // then the best ISA at each further thread count.
  const cases = [];
  const blocks = [
    ...isas.map((isa) => ({ key: isa, isa, threads: 1, gemm: [], pack: [], ceiling: null })),
    ...opts.threads.filter((t) => t > 1).map((t) => ({ key: `${isas[0]} ${t}T`, isa: isas[0], threads: t, gemm: [], pack: [], ceiling: null })),
  ];
  for (const block of blocks) {
    const { isa, threads } = block;
    const setup = () => {
      kernels.setIsa(isa);
      kernels.setThreads(threads);
    };
    // Probe: cost grows at most like aBits·bBits plane pairs. The 1×1 call bounds the cost of
    // a pair; a 2×2 call (when affordable) gives a tighter per-pair cost for the bigger cases.
    setup();
    const probe = (aBits, bBits) => {
      const spec = { aBits, bBits, aEncoding: 'unsigned', bEncoding: 'bipolar' };
      return timeOnce(() => kernels.bitGemm(packedA, packedB, spec));
    };
    await probe(1, 1);
    const t11 = await probe(1, 1);
    let perPair = t11;
    if (4 * t11 < opts.capMs / 2 && opts.bits.includes(2)) perPair = Math.min(t11, (await probe(2, 2)) / 4);
    const estimate = (spec) => (spec.aBits * spec.bBits === 1 ? t11 : spec.aBits * spec.bBits * perPair);
    for (const spec of specs) {
      // The path the dispatcher picks (bit-serial or int8 dot products), when anyprec says; and,
      // when the path can be forced, the bit-serial kernel too wherever the pick is another path.
      const path = gemmPathOf(kernels, ctx.path, spec, shape);
      const variants = [{ spec, forced: false }];
      if (ctx.path.option && path && path !== 'bitserial') variants.push({ spec: { ...spec, path: 'bitserial' }, forced: true });
      for (const v of variants) {
        const c = makeCase({
          id: `anyprec ${isa} ${pairName(spec)}${threads > 1 ? ` ${threads}T` : ''}${v.forced ? ' bitserial' : ''}`,
          kind: 'anyprec',
          isa,
          threads,
          // Dropped first when over budget: slower ISAs, then the extra thread counts.
          isaRank: threads > 1 ? 0.5 : isas.indexOf(isa),
          spec: v.spec,
          path: v.forced ? 'bitserial' : path,
          forced: v.forced,
          setup,
          fn: () => kernels.bitGemm(packedA, packedB, v.spec),
          check: checkGemm(spec),
          estMs: estimate(spec),
          droppable: !(spec.aBits === 1 && spec.bBits === 1 && threads === 1 && !v.forced), // 1×1 anchors the cost ratios
        });
        if (c.estMs > opts.capMs) c.skipped = `single call ≈${secs(c.estMs)} > cap ${secs(opts.capMs)}`;
        block.gemm.push(c);
        cases.push(c);
      }
    }
    if (threads !== 1) continue;
    for (const bits of opts.bits) {
      const codes = codesAt.get(bits);
      const c = makeCase({
        id: `pack A ${isa} ${bits}b`,
        kind: 'packA',
        isa,
        bits,
        setup,
        fn: () => kernels.pack(codes, m, k, bits),
      });
      setup();
      c.estMs = await timeOnce(c.fn);
      block.pack.push(c);
      cases.push(c);
    }
    // The ceiling loop, sized to ~ceilingMs per call (calibrated by doubling from a short run).
    let calib = 1000;
    let calibMs = await timeOnce(() => kernels.popcountCeiling(calib));
    while (calibMs < 2) {
      calib *= 2;
      calibMs = await timeOnce(() => kernels.popcountCeiling(calib));
    }
    const iterations = Math.max(1000, Math.round((calib * opts.ceilingMs) / calibMs));
    let bitMacsPerCall = 0;
    const ceil = makeCase({
      id: `ceiling ${isa}`,
      kind: 'ceiling',
      isa,
      iterations,
      setup,
      fn: () => {
        bitMacsPerCall = kernels.popcountCeiling(iterations).bitMacs;
      },
      estMs: opts.ceilingMs,
    });
    ceil.bitMacsPerCall = () => bitMacsPerCall;
    block.ceiling = ceil;
    cases.push(ceil);
  }
  return { blocks, cases };
}

/**
 * What anyprec says about GEMM paths, feature-detected so the suite runs before and after the
 * int8 dot-product path lands: `gemmPath` = kernels.gemmPath exists; `option` = bitGemm accepts
 * `path: 'bitserial'` and rejects a bogus path (an option it ignored would accept both).
 */
export function detectPaths(kernels) {
  const result = { gemmPath: typeof kernels.gemmPath === 'function', option: false, int8Kernel: typeof kernels.int8Kernel === 'function' };
  try {
    const a = kernels.pack(new Uint8Array(2 * 64), 2, 64, 8);
    const spec = { aBits: 2, bBits: 2, aEncoding: 'unsigned', bEncoding: 'bipolar' };
    let forcedOk = false, bogusRejected = false;
    try {
      kernels.bitGemm(a, a, { ...spec, path: 'bitserial' });
      forcedOk = true;
    } catch { /* not supported */ }
    try {
      kernels.bitGemm(a, a, { ...spec, path: 'no-such-path' });
    } catch {
      bogusRejected = true;
    }
    result.option = forcedOk && bogusRejected;
  } catch { /* leave false */ }
  return result;
}

/** kernels.gemmPath(aBits, bBits, m, n, k) when it exists, else null. */
function gemmPathOf(kernels, paths, spec, shape) {
  if (!paths.gemmPath) return null;
  try {
    const p = kernels.gemmPath(spec.aBits, spec.bBits, shape.m, shape.n, shape.k, spec);
    return typeof p === 'string' ? p : (p?.path ?? String(p));
  } catch (err) {
    return `error: ${err.message}`;
  }
}
