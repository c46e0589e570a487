// The quantised conv / linear step (qconv2d, qlinear), with an optional fused batch norm and
// activation (quantiser or ReLU) after it, or a residual add (float output plus the add's other
// operand, inside the GEMM's epilogue). Three executors, chosen per call by what arrives:
// - gated: B-bit unsigned codes into a layer with a precision gate (the gating floor's executor);
// - codes: activation codes (unsigned, or bipolar) into the GEMM with a fused epilogue: bit planes
//   into the bit-serial path, or, where the route picks int8, the codes straight into the int8 path;
// - float: float activations or 32-bit weights (dequantised weights x float input).
import * as kernels from '../../core/kernels';
import { Packed } from '../../core/kernels';
import { GatePathChooser, gatedHighRoute, gatedProductFused, gateStats, HighRouteChooser, highProduct, highRouteReason, recordHighParts } from '../../gating';
import type { GatedWeights, GateStats, HighRoute, LayerGate } from '../../gating';
import type { NodeSpec, PrecisionGate } from '../graph';
import type { Act } from '../ops';
import * as ops from '../ops';
import { convShape, NotLowerable } from '../lower';
import type { Lowering, LoweredValue } from '../lower';
import type { Precision } from '../precision';
import { chooseRoute } from '../route';
import type { LayerRoute } from '../route';
import { nodeMacs } from '../shapes';
import { clipAffine, codesAct, maxField, floatAct, floatsOf, keep, PlanContext, reuse, RunContext, Step } from './step';

const fr = Math.fround;

type QNode = NodeSpec & ({ op: 'qconv2d' } | { op: 'qlinear' });

/** Per-channel scale and shift applied to an accumulator (its own scale, then bias and batch norm). */
interface Affine { scale: Float32Array; shift: Float32Array }

/** A quantised layer as compiled for one precision. */
interface QLayer {
  node: QNode;
  ctx: PlanContext;
  isConv: boolean;
  inShape: number[];
  outShape: number[];
  channels: number;
  /** MACs per output. */
  k: number;
  wBits: number;
  /** Packed weights (absent for 32-bit weights). */
  weights?: Packed;
  /** Weight scale E. */
  E: number;
  bias?: Float32Array;
  bn?: { alpha: Float32Array; beta: Float32Array };
  act?: NodeSpec;
  /** Bits of the fused activation quantiser's codes (32: float out). */
  actBits: number;
  /** The fused quantiser's clip α at actBits (quantize with `clip`): the codes' scale below 32 bits, the clamp's upper end at 32. */
  actClip?: number;
  /** The fixed scale of the input codes (a clipped quantiser's α; PlanContext.codeScale), if they have one. */
  inScale?: number;
  gate?: PrecisionGate;
  /** The other operand of a fused residual add after the layer. */
  residual?: string;
  /** Epilogues per input kind (bits/encoding), made on first use. */
  epilogues: Map<string, Affine>;
  /** Gated layers: the measured choice between the gated and the dense path. */
  gatePath?: GatePathChooser;
  /** Gated layers: the measured route of the gated kernel's high part (bit-serial or int8), per row count. */
  highRoute?: HighRouteChooser;
  floatWeights?: Float32Array;
}

/** The stored packed weights for wBits-bit weights, or a RangeError naming what is missing. */
function layerWeights(ctx: PlanContext, node: QNode, wBits: number): Packed | undefined {
  if (wBits === 32) {
    if (!ctx.hasParam(`${node.name}.w32`)) throw new RangeError(`layer ${node.name} has no float weights (32 is not in its bit list)`);
    return undefined;
  }
  const stored = ctx.graph.weightMode === 'truncate' ? 8 : wBits;
  const p = ctx.getParam(`${node.name}.q${stored}`);
  if (!(p instanceof Packed)) {
    throw new RangeError(`layer ${node.name} has no ${wBits}-bit weights (bit list: ${ctx.graph.bitList.join(', ')})`);
  }
  return p;
}

function compileLayer(chain: NodeSpec[], ctx: PlanContext, prec: Precision): QLayer {
  const node = chain[0] as QNode;
  const bnNode = chain.find((c) => c.op === 'batchnorm') as (NodeSpec & { op: 'batchnorm' }) | undefined;
  const act = chain.find((c) => c.op === 'quantize' || c.op === 'relu');
  const add = chain.find((c) => c.op === 'add');
  const outShape = ctx.shapes.get(node.name)!;
  const isConv = node.op === 'qconv2d';
  const wBits = prec.weights;
  const q = act?.op === 'quantize' ? ctx.quantizer(act) : undefined;
  return {
    node, ctx, isConv, outShape,
    actClip: q?.clip,
    inScale: ctx.codeScale.get(node.inputs[0]),
    inShape: ctx.shapes.get(node.inputs[0])!,
    channels: outShape[outShape.length - 1],
    k: isConv ? node.inChannels * node.kernel[0] * node.kernel[1] : node.inFeatures,
    wBits,
    actBits: q?.bits ?? 32,
    act,
    bn: bnNode ? ctx.bn(bnNode) : undefined,
    bias: node.op === 'qlinear' && node.bias ? ctx.param<Float32Array>(`${node.name}.b`) : undefined,
    E: ctx.param<Float32Array>(`${node.name}.scale`)[0],
    weights: layerWeights(ctx, node, wBits),
    gate: node.gate,
    residual: add?.inputs.find((i) => i !== node.name),
    epilogues: new Map(),
  };
}

/**
 * The final per-channel affine after the accumulator's own scale: batch norm, then bias folded in;
 * for a clipped quantiser's codes (actClip below 32 bits) both divided by its α.
 */
function affine(l: QLayer, accScale: number): Affine {
  const scale = new Float32Array(l.channels), shift = new Float32Array(l.channels);
  const clip = l.actBits !== 32 ? l.actClip : undefined;
  for (let c = 0; c < l.channels; c++) {
    let s = fr(accScale), t = l.bias ? l.bias[c] : 0;
    if (l.bn) {
      t = fr(fr(t * l.bn.alpha[c]) + l.bn.beta[c]);
      s = fr(s * l.bn.alpha[c]);
    }
    scale[c] = clip === undefined ? s : s / clip;
    shift[c] = clip === undefined ? t : t / clip;
  }
  return { scale, shift };
}

/**
 * The float value of one accumulator step over input codes of `bits` bits in `encoding`:
 * E / (n_w · n_a), and E·s / (n_w · n_a) for codes of a fixed scale s (a clipped quantiser's α).
 */
function accUnit(l: QLayer, bits: number, encoding: 'unsigned' | 'bipolar'): number {
  const nw = (1 << l.wBits) - 1, na = encoding === 'bipolar' ? 1 : (1 << bits) - 1;
  return l.inScale === undefined ? fr(l.E / (nw * na)) : fr((l.E * l.inScale) / (nw * na));
}

/** The epilogue for inputs of `bits` bits in `encoding` (one accumulator step: accUnit). */
function epilogueFor(l: QLayer, bits: number, encoding: 'unsigned' | 'bipolar'): Affine {
  const key = `${bits}/${encoding}`;
  let epi = l.epilogues.get(key);
  if (!epi) l.epilogues.set(key, (epi = affine(l, accUnit(l, bits, encoding))));
  return epi;
}

/** The clamp's upper end of the layer's float output: a clipped quantiser's α at 32 bits. */
function actMax(l: QLayer): number | undefined {
  return l.act?.op === 'quantize' && l.actBits === 32 ? l.actClip : undefined;
}

/** Lowered (conv) or plain (linear) packed input codes of `bits` planes. */
function packInput(l: QLayer, codes: Uint8Array, n: number, bits: number, packBits = bits, rc?: RunContext, tag = ''): Packed {
  const node = l.node;
  if (node.op !== 'qconv2d') return kernels.pack(codes, n, l.k, bits);
  const [h, w, c] = l.inShape;
  const key = `${node.name}:packed${tag}`;
  const out = rc?.buffers?.packed(key, n * l.outShape[0] * l.outShape[1], l.k, packBits);
  return keep(rc, key, kernels.packConv(codes, { n, h, w, c },
    { kernel: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation }, packBits, out));
}

/** A product of the layer's weights and its input, through a given epilogue. */
type Product = (epilogue: kernels.Epilogue, out?: Float32Array | Uint8Array) => Int32Array | Float32Array | Uint8Array;

/**
 * The layer's epilogue fused into a product: codes out (fused quantiser) or floats (plus the
 * residual, and the next block's codes when `dual` is given), into the plan's kept buffer.
 */
function fusedProduct(l: QLayer, product: Product, epi: Affine, n: number, residual?: Float32Array, rc?: RunContext,
                      dual?: kernels.DualCodes): Act {
  const key = `${l.node.name}:out`, count = n * l.outShape.reduce((a, b) => a * b, 1);
  const epilogue = layerEpilogue(l, epi, residual, dual);
  const type = epilogue.output === 'codes' ? Uint8Array : Float32Array;
  return layerAct(l, epilogue, keep(rc, key, product(epilogue, reuse(rc, key, type, count)) as Float32Array | Uint8Array), n);
}

/** The layer's epilogue: the next quantiser's codes, or floats (ReLU clamp, residual add, dual codes). */
function layerEpilogue(l: QLayer, epi: Affine, residual?: Float32Array, dual?: kernels.DualCodes): kernels.Epilogue {
  if (l.act?.op === 'quantize' && l.actBits !== 32) return { output: 'codes', bits: l.actBits, scale: epi.scale, shift: epi.shift };
  const max = actMax(l);
  return { output: 'float', scale: epi.scale, shift: epi.shift, min: l.act ? 0 : undefined, ...maxField(max), residual, codes: dual };
}

/** A product's finished outputs (of `epilogue`) as the layer's activation. */
function layerAct(l: QLayer, epilogue: kernels.Epilogue, out: Float32Array | Uint8Array, n: number): Act {
  return epilogue.output === 'codes' ? codesAct(out as Uint8Array, l.actBits, n, l.outShape, l.actClip) : floatAct(out as Float32Array, n, l.outShape);
}

/** The bit-serial GEMM with the layer's epilogue fused: codes out (fused quantiser) or floats. */
function denseGemm(l: QLayer, a: Packed, aBits: number, epi: Affine, n: number,
                   aEncoding: kernels.EncodingName = 'unsigned', residual?: Float32Array, rc?: RunContext,
                   codes?: kernels.DualCodes): Act {
  const base = { aBits, bBits: l.wBits, aEncoding, bEncoding: 'bipolar' } as const;
  return fusedProduct(l, (epilogue, out) => kernels.bitGemm(a, l.weights!, { ...base, epilogue, out }), epi, n, residual, rc, codes);
}

/**
 * The int8 route straight from the codes (no bit planes): taken where the layer's route is int8
 * (route.ts for unsigned codes: setGemmPath, the rule, or measured; the rule for other encodings),
 * reported in rc.step.route. undefined where it is not.
 */
function int8FromCodes(l: QLayer, codes: Uint8Array, aBits: number, aEncoding: kernels.EncodingName, epi: Affine,
                       n: number, residual?: Float32Array, rc?: RunContext, dual?: kernels.DualCodes): Act | undefined {
  const route = aEncoding === 'unsigned' ? layerRoute(l, n, aBits)
    : { path: kernels.gemmPath(aBits, l.wBits, gemmRows(l, n), l.channels, l.k), reason: 'rule' as const };
  if (rc) rc.step = { route };
  if (route.path !== 'int8') return undefined;
  const node = l.node;
  const options = { aBits, aEncoding, bBits: l.wBits, bEncoding: 'bipolar' } as const;
  const product: Product = node.op === 'qconv2d'
    ? (epilogue, out) => {
      const [h, w, c] = l.inShape;
      const conv = { kernel: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation };
      return kernels.int8Conv(codes, { n, h, w, c }, conv, l.weights!, { ...options, epilogue, out });
    }
    : (epilogue, out) => kernels.int8Linear(codes, n, l.weights!, { ...options, epilogue, out });
  return fusedProduct(l, product, epi, n, residual, rc, dual);
}

/** GEMM rows of the layer for a batch of n (n x output positions). */
function gemmRows(l: QLayer, n: number): number {
  return (n * l.outShape.reduce((p, d) => p * d, 1)) / l.channels;
}

/**
 * The GEMM route of the layer for a batch of n over unsigned aBits-bit codes (route.ts: forced,
 * the rule, or measured on the layer's weights; both routes give the same bits).
 */
function layerRoute(l: QLayer, n: number, aBits: number): LayerRoute {
  const e = layerEpilogue(l, epilogueFor(l, aBits, 'unsigned'));
  const epilogue: kernels.ProgramEpilogue = e.output === 'codes' ? e : { output: 'float', scale: e.scale, shift: e.shift, min: e.min, max: e.max };
  const geometry = geometryOf(l);
  return chooseRoute({ shape: convShape(n, l.inShape, geometry), conv: geometry !== undefined, rows: gemmRows(l, n),
    channels: l.channels, k: l.k, aBits, wBits: l.wBits, weights: l.weights!, epilogue });
}

/** Integer products through the native epilogue loops (float32(acc) first, as the fused epilogue does). */
function finishProducts(l: QLayer, acc: Int32Array, epi: Affine, n: number): Act {
  if (l.act?.op === 'quantize' && l.actBits !== 32) {
    return codesAct(kernels.quantizeActivations(acc, l.channels, epi.scale, epi.shift, l.actBits), l.actBits, n, l.outShape, l.actClip);
  }
  return floatAct(kernels.channelAffine(acc, l.channels, epi.scale, epi.shift, l.act ? 0 : -Infinity, actMax(l) ?? Infinity), n, l.outShape);
}

/**
 * Gated executor: B-bit unsigned codes through the gating floor's gated product, the layer's
 * epilogue (and residual add) fused into the gated kernel. Under a trained gate with gatePath
 * 'auto' the layer runs on its gated or its dense path, whichever its measured times say is
 * faster (GatePathChooser); 'dense' runs it without its gate.
 */
function runGated(l: QLayer, x: Act & { kind: 'codes' }, n: number, rc: RunContext, residual?: Float32Array,
                  dual?: kernels.DualCodes): [Act, boolean] {
  const gate = l.gate!;
  // The input packed at all B planes, once per call and only where a route needs it.
  let packed: Packed | undefined;
  const full = (): Packed => (packed ??= packInput(l, x.codes, n, x.bits, x.bits, rc));
  const rows = gemmRows(l, n);
  const unit = accUnit(l, x.bits, 'unsigned');
  const epi = epilogueFor(l, x.bits, x.encoding);
  const weights: GatedWeights = { b: l.weights!, bBits: l.wBits, bEncoding: 'bipolar', maxLevel: 2 ** l.wBits - 1 };
  const layer: LayerGate = {
    bits: gate.bits, highBits: gate.highBits, rule: 'compare', unit,
    threshold: l.ctx.param<Float32Array>(`${l.node.name}.threshold`),
  };
  // The path is reported when the call asked for a choice (gatePath 'auto' or 'dense').
  const report = rc.gate.path === 'auto' || rc.gate.path === 'dense';
  const stats = (on: number, total: number, path?: 'gated' | 'dense', pathReason?: string): void => {
    const g: GateStats = gateStats(on, total, l.k, l.wBits, gate.bits, gate.highBits);
    if (path && report) Object.assign(g, { path, pathReason });
    rc.step = { gate: g, bitOps: g.bitOps };
  };
  const total = rows * l.channels;
  // A float epilogue writes `dual` (the codes of its output) too; a codes epilogue has no dual.
  const dualOut = dual !== undefined && layerEpilogue(l, epi).output === 'float';
  if (rc.probe) recordHighParts(rc.probe, l.node.name, highProduct(full(), weights, layer), unit, l.channels);
  // 'open': every output gets its low bits, i.e. the dense layer (fused epilogue, no gate work).
  // The layer without its gate on its dense best route, as the ungated network runs it: the int8
  // route reading the codes in place where the route says so, else bit planes (packed here).
  const dense = (): Act => int8FromCodes(l, x.codes, x.bits, 'unsigned', epi, n, residual, rc, dual)
    ?? denseGemm(l, full(), x.bits, epi, n, 'unsigned', residual, undefined, dual);
  if (rc.gate.mode === 'open') {
    const y = dense();
    stats(total, total);
    return [y, dualOut];
  }
  // The path: calibration (probe) and 'closed' need the gate itself; a trained gate may run dense.
  const choosing = rc.gate.mode === 'trained' && !rc.probe;
  const chooser = (l.gatePath ??= new GatePathChooser());
  const choice = choosing ? chooser.choose(rc.gate.path ?? 'gated', rc.gate.offset)
    : { path: 'gated' as const, reason: rc.probe ? 'calibration' : 'gate closed' };
  // Timed from here: each path's own input preparation (packing, the codes' split) counts.
  const t0 = performance.now();
  let y: Act;
  // Whether `dual` holds the codes of y (the fused epilogue wrote them).
  let coded = dualOut;
  if (choice.path === 'dense') {
    y = dense();
    stats(total, total, 'dense', choice.reason);
  } else {
    const epilogue = layerEpilogue(l, epi, residual, dual);
    // Into the plan's kept output buffer (as fusedProduct's): no fresh pages per call.
    const key = `${l.node.name}:out`;
    const out = reuse<Float32Array | Uint8Array>(rc, key, epilogue.output === 'codes' ? Uint8Array : Float32Array, total);
    // The high part's route (the same results either way): forced by kernels.setGemmPath ('int8'
    // forces the int8 GEMM of the high codes rebuilt from the planes), else measured on this
    // layer's first call at this row count (HighRouteChooser).
    const forced = gatedHighRoute();
    const codesOk = codesRouteOk(l, x);
    const setting: HighRoute | 'auto' = forced !== undefined && (forced !== 'codes' || codesOk) ? forced : kernels.gemmPathSetting();
    const run = (high: HighRoute) => {
      if (high !== 'codes') return gatedProductFused(full(), weights, layer, rc.gate, epilogue, { out, high });
      const [low, given] = highFromCodes(l, x, n, rc, full);
      return gatedProductFused(low, weights, layer, rc.gate, epilogue, { out, given });
    };
    let high: HighRoute, highReason: string;
    let r: ReturnType<typeof run>;
    if (setting !== 'auto') {
      high = setting;
      highReason = forced === setting ? 'setGatedHighRoute' : 'gemmPath';
      r = run(high);
    } else {
      const hr = (l.highRoute ??= new HighRouteChooser(codesOk ? ['bitserial', 'int8', 'codes'] : ['bitserial', 'int8']));
      const known = hr.route(rows);
      r = known ? run(known.high) : hr.trial(rows, (h) => {
        packed = undefined; // each trial run pays its own packing
        return run(h);
      });
      const t = hr.route(rows)!;
      high = t.high;
      highReason = highRouteReason(t);
    }
    // Thresholds the kernel cannot take (r.acc): the products, finished here.
    if (r.out !== null) y = layerAct(l, epilogue, keep(rc, key, r.out), n);
    else {
      y = plusResidual(l, finishProducts(l, r.acc!, epi, n), residual, n);
      coded = false;
    }
    stats(r.on, r.total, 'gated', choice.reason);
    if (rc.step?.gate) Object.assign(rc.step.gate, { high, highReason });
  }
  if (choosing && rc.gate.path === 'auto') chooser.record(choice.path, performance.now() - t0, rows);
  return [y, coded];
}

/** Whether the 'codes' high route applies: unsigned codes of B bits, B - Bhb low bits below a byte. */
function codesRouteOk(l: QLayer, x: Act & { kind: 'codes' }): boolean {
  return x.encoding === 'unsigned' && x.bits === l.gate!.bits && l.gate!.bits <= 8;
}

/**
 * The 'codes' high route's operands: the codes split into the high codes p >> L and the low codes
 * p & (2^L - 1) (kernels.splitCodes, one pass), the high part's value sums by the dense int8 route
 * reading the high codes in place (int8Conv / int8Linear, exact int32), and only the L low planes
 * packed. Returns gatedProductFused's first argument and its given high part.
 */
function highFromCodes(l: QLayer, x: Act & { kind: 'codes' }, n: number, rc: RunContext,
                       full: () => Packed): [Packed, { sums: Int32Array; lowOnly: boolean; full: () => Packed }] {
  const gate = l.gate!, node = l.node;
  const L = gate.bits - gate.highBits;
  const len = x.codes.length;
  const hiKey = `${node.name}:hicodes`, loKey = `${node.name}:locodes`, sumKey = `${node.name}:hisums`;
  const hi = keep(rc, hiKey, reuse<Uint8Array>(rc, hiKey, Uint8Array, len) ?? new Uint8Array(len));
  const lo = keep(rc, loKey, reuse<Uint8Array>(rc, loKey, Uint8Array, len) ?? new Uint8Array(len));
  kernels.splitCodes(x.codes, L, hi, lo);
  const total = gemmRows(l, n) * l.channels;
  const sumsOut = rc.buffers?.array(sumKey, Int32Array, total);
  const options = { aBits: gate.highBits, aEncoding: 'unsigned', bBits: l.wBits, bEncoding: 'bipolar', out: sumsOut } as const;
  let sums: Int32Array;
  if (node.op === 'qconv2d') {
    const [h, w, c] = l.inShape;
    const conv = { kernel: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation };
    sums = kernels.int8Conv(hi, { n, h, w, c }, conv, l.weights!, options) as Int32Array;
  } else sums = kernels.int8Linear(hi, n, l.weights!, options) as Int32Array;
  rc.buffers?.keep(sumKey, sums);
  const a = packInput(l, lo, n, L, L, rc, ':low');
  return [a, { sums, lowOnly: true, full }];
}

/** A float activation plus the residual (when there is one). */
function plusResidual(l: QLayer, y: Act, residual: Float32Array | undefined, n: number): Act {
  return residual ? floatAct(kernels.addFloats(ops.toFloat(y), residual), n, l.outShape) : y;
}

/** Bipolar b-bit codes (value 2q - (2^b - 1)) as (b+1)-bit two's-complement signed codes of the same value. */
function bipolarToSigned(codes: Uint8Array, bits: number): Uint8Array {
  if (bits > 7) throw new RangeError(`bipolar activations of ${bits} bits cannot be zero-padded (at most 7)`);
  const n = (1 << bits) - 1, mask = (1 << (bits + 1)) - 1;
  const lut = new Uint8Array(n + 1).map((_, q) => (2 * q - n) & mask);
  const out = new Uint8Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = lut[codes[i]];
  return out;
}

/** Codes executor: activation codes (fixed scale) into the GEMM (the int8 route from codes, or bit planes). */
function runCodes(l: QLayer, x: Act & { kind: 'codes' }, n: number, residual?: Float32Array, rc?: RunContext,
                  dual?: kernels.DualCodes): Act {
  // Bipolar codes have no zero (code 0 is -1), so the zero padding of a conv cannot be code 0:
  // padded taps would count as -1. Such inputs go in as signed codes one bit wider (the value
  // 2q - (2^b - 1) in two's complement: +1 -> 01, -1 -> 11 at b = 1), whose code 0 is 0.
  const node = l.node;
  const widen = node.op === 'qconv2d' && x.encoding === 'bipolar' && (node.padding[0] > 0 || node.padding[1] > 0);
  const aBits = widen ? x.bits + 1 : x.bits;
  const codes = widen ? bipolarToSigned(x.codes, x.bits) : x.codes;
  const encoding = widen ? 'signed' : x.encoding;
  const epi = epilogueFor(l, x.bits, x.encoding);
  return int8FromCodes(l, codes, aBits, encoding, epi, n, residual, rc, dual)
    ?? denseGemm(l, packInput(l, codes, n, x.bits, aBits, rc), aBits, epi, n, encoding, residual, rc, dual);
}

/** Float weights (E * c / (2^b - 1), c the odd level) of a packed bipolar weight matrix. */
function dequantWeights(p: Packed, stored: number, bits: number, E: number): Float32Array {
  const codes = kernels.unpack(p);
  const out = new Float32Array(codes.length);
  const n = (1 << bits) - 1, shift = stored - bits;
  const level = new Float32Array(n + 1).map((_, q) => fr(fr((2 * q - n) / n) * E));
  for (let i = 0; i < codes.length; i++) out[i] = level[codes[i] >> shift];
  return out;
}

/** Per layer, the float executor's packed dequantised weights and epilogue (made on first use). */
const floatLayers = new WeakMap<QLayer, { weights: kernels.FloatWeights; epilogue: Affine }>();

/** The float executor's packed dequantised weights and epilogue of a layer (made on first use). */
function floatPrepared(l: QLayer): { weights: kernels.FloatWeights; epilogue: Affine } {
  let prepared = floatLayers.get(l);
  if (!prepared) {
    const stored = l.ctx.graph.weightMode === 'truncate' ? 8 : l.wBits;
    const w = l.wBits === 32 ? l.ctx.param<Float32Array>(`${l.node.name}.w32`) : dequantWeights(l.weights!, stored, l.wBits, l.E);
    prepared = { weights: kernels.packFloatWeights(w, l.channels, l.k), epilogue: affine(l, 1) };
    floatLayers.set(l, prepared);
  }
  return prepared;
}

/** The conv geometry of a qconv2d layer (undefined for qlinear). */
function geometryOf(l: QLayer): Parameters<typeof convShape>[2] {
  const node = l.node;
  return node.op === 'qconv2d' ? { kernel: node.kernel, stride: node.stride, padding: node.padding, dilation: node.dilation } : undefined;
}

/** The float executor's epilogue options: the quantiser's codes, or floats clamped at 0 after a ReLU. */
function floatOptions(l: QLayer): kernels.FloatConvOptions {
  const { scale, shift } = floatPrepared(l).epilogue;
  if (l.act?.op === 'quantize' && l.actBits !== 32) return { scale, shift, bits: l.actBits };
  const max = actMax(l);
  return { scale, shift, min: l.act && (l.act.op === 'relu' || l.actBits === 32) ? 0 : -Infinity, ...maxField(max) };
}

/**
 * Float executor: float activations (or 32-bit weights): dequantised weights x float input, one
 * float convolution with the layer's affine (bias, batch norm), ReLU and quantiser in its epilogue,
 * and (float output) the residual add and the next block's batch norm + activation of the sum
 * (`next`: its output array, floats or codes) in the same pass.
 */
function runFloat(l: QLayer, x: Act, n: number, rc?: RunContext, residual?: Float32Array, next?: kernels.FloatConvNext): Act {
  const xf = ops.toFloat(x);
  const { weights } = floatPrepared(l);
  const [h, w, c] = l.inShape;
  const options = floatOptions(l);
  const geometry = geometryOf(l);
  const conv = (o: kernels.FloatConvOptions) =>
    (geometry ? kernels.floatConv(xf, { n, h, w, c }, geometry, weights, o) : kernels.floatLinear(xf, n, weights, o));
  if (options.bits !== undefined) return codesAct(conv(options) as Uint8Array, l.actBits, n, l.outShape, l.actClip);
  if (!residual && !next) return floatAct(conv(options) as Float32Array, n, l.outShape);
  const key = `${l.node.name}:out`, count = n * l.outShape.reduce((p, d) => p * d, 1);
  const out = reuse<Float32Array>(rc, key, Float32Array, count);
  return floatAct(keep(rc, key, conv({ ...options, residual, next, out }) as Float32Array), n, l.outShape);
}

/** The float executor's call in a program (runFloat's conv; the residual add and next affine follow as their own ops). */
function lowerFloat(l: QLayer, b: Lowering, input: string): LoweredValue {
  const options = floatOptions(l);
  const x = b.floats(input);
  const y = b.value(l.outShape, options.bits ?? 32, l.actClip);
  b.op({ op: 'floatConv', x, out: y.buf, shape: convShape(b.n, l.inShape, geometryOf(l)), weights: floatPrepared(l).weights.packed,
    outChannels: l.channels, scale: options.scale, shift: options.shift, min: options.min, ...maxField(options.max),
    bits: options.bits ?? 0 });
  return y;
}

/**
 * The codes executor's calls in a program (runCodes' for unsigned codes, the only kind a program
 * carries): the int8 route from the codes where the layer's route (route.ts) is int8, else pack
 * (or packConv) and the bit-serial GEMM, with the layer's epilogue (residual and dual codes as buffers).
 */
function lowerCodes(l: QLayer, b: Lowering, x: LoweredValue & { kind: 'codes' }, residual?: number,
                    dual?: { bits: number; scale: Float32Array; shift: Float32Array; out: number }): LoweredValue {
  // the epilogue's accumulator unit assumes the input's scale is the one this plan gave the layer
  if (x.scale !== l.inScale) throw new NotLowerable(`layer ${l.node.name}: input codes of scale ${x.scale}, not ${l.inScale}`);
  const e = layerEpilogue(l, epilogueFor(l, x.bits, 'unsigned'));
  const epilogue: kernels.ProgramEpilogue = e.output === 'codes' ? e : { ...e, residual, codes: dual };
  const y = b.value(l.outShape, e.output === 'codes' ? l.actBits : 32, l.actClip);
  const rows = gemmRows(l, b.n);
  const geometry = geometryOf(l);
  const shape = convShape(b.n, l.inShape, geometry);
  const weights = { b: l.weights!, bBits: l.wBits, bEncoding: 'bipolar' as const };
  const route = layerRoute(l, b.n, x.bits);
  b.route = route;
  if (route.path === 'int8') {
    b.op({ op: 'int8Codes', x: x.buf, shape, aBits: x.bits, aEncoding: 'unsigned', ...weights,
      int8Weights: kernels.preparedInt8Weights(l.weights!, l.wBits, 'bipolar'), epilogue, out: y.buf });
    return y;
  }
  const data = b.buffer(8 * kernels.packedWords(rows, l.k, x.bits)), pops = b.buffer(4 * rows * x.bits);
  if (geometry) b.op({ op: 'packConv', x: x.buf, data, pops, shape, planes: x.bits });
  else b.op({ op: 'pack', x: x.buf, data, pops, rows, k: l.k, planes: x.bits });
  b.op({ op: 'gemm', aData: data, aPops: pops, aRows: rows, aPlanes: x.bits, aBits: x.bits, aEncoding: 'unsigned', ...weights,
    epilogue, out: y.buf });
  return y;
}

/** A batch norm and activation quantiser applied to a layer's float result (a residual sum) as well. */
export interface SumCodes { bn: NodeSpec & { op: 'batchnorm' }; q: NodeSpec & { op: 'quantize' } }

/**
 * The sum's batch norm + quantiser at their current widths: below 32 bits the affine that makes
 * the codes (the batch norm, divided by a clipped quantiser's α; `scale`: the codes' scale), at 32
 * the batch norm and the float clamp's upper end (`max`: a clipped quantiser's α).
 */
function sumCodes(then: SumCodes, ctx: PlanContext, channels: number): { bits: number; shape: number[]; alpha: Float32Array; beta: Float32Array;
  scale?: number; max?: number } {
  const { bits, clip } = ctx.quantizer(then.q);
  const { alpha, beta } = ctx.bn(then.bn);
  const shape = ctx.shapes.get(then.q.name)!;
  if (clip === undefined) return { bits, shape, alpha, beta };
  if (bits === 32) return { bits, shape, alpha, beta, max: clip };
  const folded = clipAffine(alpha, beta, clip, channels);
  return { bits, shape, alpha: folded.scale, beta: folded.shift!, scale: clip };
}

/**
 * The step of a quantised layer and what is fused after it (chain[0] is the layer). `then`: the
 * batch norm + quantiser of its float output, whose codes the step also writes (env[then.q.name]):
 * in the GEMM's epilogue on the codes executor, else one quantizeActivations pass.
 */
export function quantisedStep(chain: NodeSpec[], ctx: PlanContext, prec: Precision, then?: SumCodes): Step {
  const l = compileLayer(chain, ctx, prec);
  const node = l.node;
  const second = then && sumCodes(then, ctx, l.channels);
  // The codes of the step's float output y, from the epilogue (dual) or a separate pass.
  // At 32 bits the "codes" are the float activation: max(batch norm of y, 0) (bnQuantizeStep's).
  const withCodes = (y: Act, n: number, env: Map<string, Act>, rc: RunContext, dual?: Uint8Array): Act => {
    if (!second || !then) return y;
    const data = (y as Act & { kind: 'float' }).data;
    if (second.bits === 32) {
      const z = kernels.channelAffine(data, l.channels, second.alpha, second.beta, 0, second.max ?? Infinity,
        reuse<Float32Array>(rc, then.q.name, Float32Array, data.length));
      env.set(then.q.name, floatAct(keep(rc, then.q.name, z), n, second.shape));
      return y;
    }
    const codes = dual ?? keep(rc, then.q.name, kernels.quantizeActivations(data, l.channels, second.alpha, second.beta,
      second.bits, reuse<Uint8Array>(rc, then.q.name, Uint8Array, data.length)));
    env.set(then.q.name, codesAct(codes, second.bits, n, second.shape, second.scale));
    return y;
  };
  // The float executor with the residual add and the sum's batch norm + activation in its epilogue.
  const fusedFloat = (x: Act, n: number, env: Map<string, Act>, rc: RunContext, residual?: Float32Array): Act => {
    if (!second || !then) return runFloat(l, x, n, rc, residual);
    const count = n * l.outShape.reduce((a, b) => a * b, 1);
    const float = second.bits === 32;
    const out = keep(rc, then.q.name, (float ? reuse<Float32Array>(rc, then.q.name, Float32Array, count) ?? new Float32Array(count)
      : reuse<Uint8Array>(rc, then.q.name, Uint8Array, count) ?? new Uint8Array(count)));
    const next: kernels.FloatConvNext = float ? { out, scale: second.alpha, shift: second.beta, min: 0, ...maxField(second.max) }
      : { out, scale: second.alpha, shift: second.beta, bits: second.bits };
    const y = runFloat(l, x, n, rc, residual, next);
    env.set(then.q.name, float ? floatAct(out as Float32Array, n, second.shape) : codesAct(out as Uint8Array, second.bits, n, second.shape, second.scale));
    return y;
  };
  return {
    nodes: [...chain.map((c) => c.name), ...(then ? [then.bn.name, then.q.name] : [])], op: node.op, output: chain[chain.length - 1].name,
    macsPerSample: nodeMacs(node, ctx.shapes), weightBits: l.wBits,
    activationBits: l.wBits === 32 ? 32 : ctx.codeBits.get(node.inputs[0]) ?? 32,
    ...(l.gate !== undefined ? { gatePath: () => (l.gatePath ??= new GatePathChooser()) } : {}),
    exec: (env, n, rc) => {
      const x = env.get(node.inputs[0])!;
      const residual = l.residual === undefined ? undefined : floatsOf(env.get(l.residual)!, rc, `${node.name}:residual`);
      // Executors without the fused add: the layer's float output plus the residual.
      const plus = (y: Act): Act => withCodes(plusResidual(l, y, residual, n), n, env, rc);
      // codes of the scale the epilogues were made for (none, or a clipped quantiser's α)
      const fixedCodes = l.wBits !== 32 && x.kind === 'codes' && x.scale === l.inScale;
      if (l.gate !== undefined) {
        const gated = fixedCodes && x.kind === 'codes' && x.bits === l.gate.bits;
        if (!gated) rc.inactive.push(node.name);
        else if (x.kind === 'codes') {
          if (x.encoding !== 'unsigned') {
            throw new RangeError(`layer ${node.name}: its precision gate needs unsigned activation codes, the input is ${x.encoding}`);
          }
          // The sum's next codes (second) from the gated kernel's epilogue, as runCodes' dual.
          if (!second || second.bits === 32) return withCodes(runGated(l, x, n, rc, residual)[0], n, env, rc);
          const count = n * l.outShape.reduce((a, b) => a * b, 1);
          const out = reuse<Uint8Array>(rc, then!.q.name, Uint8Array, count) ?? new Uint8Array(count);
          const [y, coded] = runGated(l, x, n, rc, residual, { bits: second.bits, scale: second.alpha, shift: second.beta, out });
          return withCodes(y, n, env, rc, coded ? keep(rc, then!.q.name, out) : undefined);
        }
      }
      if (fixedCodes && x.kind === 'codes') {
        if (!second) return runCodes(l, x, n, residual, rc);
        if (second.bits === 32) return withCodes(runCodes(l, x, n, residual, rc), n, env, rc);
        const count = n * l.outShape.reduce((a, b) => a * b, 1);
        const out = keep(rc, then!.q.name, reuse<Uint8Array>(rc, then!.q.name, Uint8Array, count) ?? new Uint8Array(count));
        const dual = { bits: second.bits, scale: second.alpha, shift: second.beta, out };
        return withCodes(runCodes(l, x, n, residual, rc, dual), n, env, rc, out);
      }
      // The float executor: a float output (the layer's activation is not codes) takes the
      // residual and the sum's next activation in its epilogue.
      if (!(l.act?.op === 'quantize' && l.actBits !== 32)) return fusedFloat(x, n, env, rc, residual);
      return plus(runFloat(l, x, n));
    },
    lower: (b) => {
      if (l.gate !== undefined && !b.gatesDense) throw new NotLowerable(`layer ${node.name} has a precision gate`);
      const x = b.get(node.inputs[0]);
      const residual = l.residual === undefined ? undefined : b.floats(l.residual);
      const output = chain[chain.length - 1].name;
      const count = b.n * l.outShape.reduce((p, d) => p * d, 1);
      const codes = second && then ? b.set(then.q.name, b.value(second.shape, second.bits, second.scale)) : undefined;
      // At 32 bits the sum's "codes" are its float activation, max(batch norm of the sum, 0):
      // one affine pass after the sum (withCodes' channelAffine), never the GEMM's dual output.
      const floatNext = second?.bits === 32;
      if (l.wBits !== 32 && x.kind === 'codes') {
        const dual = codes && second && !floatNext ? { bits: second.bits, scale: second.alpha, shift: second.beta, out: codes.buf } : undefined;
        const y = b.set(output, lowerCodes(l, b, x, residual, dual));
        if (codes && second && floatNext) {
          b.op({ op: 'affine', x: y.buf, out: codes.buf, count, channels: l.channels, scale: second.alpha, shift: second.beta, min: 0, ...maxField(second.max) });
        }
        return;
      }
      // The float conv could take the residual add and the sum's batch norm + activation in its
      // epilogue (lowerFloat's residual/next, fusedFloat's call), but measured in one process against
      // the separate ops below (bench/compare-builds.cjs, ResNet-20 float path, Zen 5) the fused call
      // took 1.05-1.07x their time at batch 64 (1.01-1.04x at batch 1): it stays unused here. On
      // Zen 3 (AVX2, the strided kernel) both builds of one network in one process, 41 rounds, run
      // twice: fused / separate 0.99-1.02 at batch 64 and 1.00-1.02 at batch 1 (wall, CPU time and
      // min alike): no gain there either, so no per-ISA choice is needed.
      let y = lowerFloat(l, b, node.inputs[0]);
      if (residual !== undefined) {
        if (y.kind !== 'float') throw new NotLowerable(`layer ${node.name}: a residual add after codes`);
        const sum = b.value(l.outShape);
        b.op({ op: 'add', a: y.buf, b: residual, out: sum.buf, count });
        y = sum;
      }
      b.set(output, y);
      if (codes && second) {
        if (y.kind !== 'float') throw new NotLowerable(`layer ${node.name}: a batch norm after codes`);
        if (floatNext) b.op({ op: 'affine', x: y.buf, out: codes.buf, count, channels: l.channels, scale: second.alpha, shift: second.beta, min: 0, ...maxField(second.max) });
        else b.op({ op: 'quantize', x: y.buf, out: codes.buf, count, channels: l.channels, scale: second.alpha, shift: second.beta, bits: second.bits });
      }
    },
  };
}
