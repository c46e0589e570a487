// Importers for the reference PyTorch checkpoints (state_dicts saved as safetensors): the graph
// is inferred from the tensor names and shapes, the weights quantised as the reference does.
import { Model } from '../nn/model';
import type { WeightMode } from '../nn/graph';
import { preactResnet, svhnq } from '../nn/zoo';
import { importPgResnet20, PgResnet20Options } from './pg-resnet20';
import { loadSafetensorsSync, SafeTensor } from './safetensors';

export type ReferenceFamily = 'resnet20q' | 'svhnq' | 'pg-resnet20';
export const REFERENCE_FAMILIES: readonly ReferenceFamily[] = ['resnet20q', 'svhnq', 'pg-resnet20'];

export interface ImportOptions extends PgResnet20Options {
  /** 'requant' (default): codes re-derived from the float weights per bit-width, exactly as the
   * reference; 'truncate': one 8-bit code per weight, k bits = its top k planes. */
  weightMode?: WeightMode;
  /** Input height = width (default: 32 for resnet20q, 40 for svhnq). */
  inputSize?: number;
}

type StateDict = Map<string, SafeTensor>;

function floatTensors(sd: StateDict): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [k, t] of sd) if (t.dtype === 'F32') out[k] = t.data as Float32Array;
  return out;
}

function shapeOf(sd: StateDict, key: string, family: string): readonly number[] {
  const t = sd.get(key);
  if (!t) throw new RangeError(`not a ${family} checkpoint: tensor '${key}' is missing`);
  return t.shape;
}

/** Bit-widths of the switchable batch norms: keys `<prefix>.bn_dict.<bits>.weight`. */
function bitList(sd: StateDict, prefix: string, family: string): number[] {
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.bn_dict\\.(\\d+)\\.weight$`);
  const bits = [...sd.keys()].map((k) => re.exec(k)?.[1]).filter((b): b is string => b !== undefined).map(Number).sort((a, b) => a - b);
  if (bits.length === 0) throw new RangeError(`not a ${family} checkpoint: no '${prefix}.bn_dict.<bits>' batch norms`);
  for (const b of bits) if (!((b >= 1 && b <= 8) || b === 32)) throw new RangeError(`${family}: unsupported bit-width ${b} in ${prefix}.bn_dict`);
  return bits;
}

function checkOptions(o: ImportOptions): WeightMode {
  if (o === null || typeof o !== 'object') throw new TypeError('options must be an object');
  const mode = o.weightMode ?? 'requant';
  if (mode !== 'requant' && mode !== 'truncate') throw new RangeError(`options.weightMode must be 'requant' or 'truncate', got ${JSON.stringify(mode)}`);
  if (mode === 'truncate') return mode;
  return mode;
}

/** The Any-Precision pre-activation ResNet (resnet20q at any width / depth). */
export function importResnet20q(sd: StateDict, o: ImportOptions = {}): Model {
  const family = 'resnet20q';
  const weightMode = checkOptions(o);
  const stem = shapeOf(sd, 'conv0.weight', family);
  let n = 0;
  while (sd.has(`layers.${n}.conv0.weight`)) n++;
  if (n === 0 || n % 3 !== 0) throw new RangeError(`${family}: expected 3 stages of residual blocks, found ${n} blocks`);
  const blocks = n / 3;
  const widths = [0, blocks, 2 * blocks].map((i) => shapeOf(sd, `layers.${i}.conv0.weight`, family)[0]) as [number, number, number];
  const fc = shapeOf(sd, 'fc.weight', family);
  let bits = bitList(sd, 'bn', family);
  if (weightMode === 'truncate' && !bits.includes(8)) bits = [...bits];
  const graph = preactResnet({ widths, blocks, classes: fc[0], inChannels: stem[1], inputSize: o.inputSize, bitList: bits, weightMode });
  return Model.build(graph, floatTensors(sd));
}

/** The Any-Precision SVHN network (svhnq, any expand). */
export function importSvhnq(sd: StateDict, o: ImportOptions = {}): Model {
  const family = 'svhnq';
  const weightMode = checkOptions(o);
  const first = shapeOf(sd, 'layers.0.weight', family);
  if (first[0] % 6 !== 0) throw new RangeError(`${family}: layers.0 has ${first[0]} channels, expected 6 x expand`);
  const expand = first[0] / 6;
  const fc = shapeOf(sd, 'fc.weight', family);
  const graph = svhnq(expand, { classes: fc[0], inputSize: o.inputSize, bitList: bitList(sd, 'layers.4', family), weightMode });
  return Model.build(graph, floatTensors(sd));
}

/** Reads a reference checkpoint (.safetensors state_dict) and builds the anyprec model. */
export function importReference(family: ReferenceFamily, path: string, options: ImportOptions = {}): Model {
  if (typeof family !== 'string' || !(REFERENCE_FAMILIES as readonly string[]).includes(family)) {
    throw new RangeError(`family must be one of ${REFERENCE_FAMILIES.join(', ')}, got ${JSON.stringify(family)}`);
  }
  if (typeof path !== 'string') throw new TypeError('path must be a string');
  const sd = loadSafetensorsSync(path).tensors;
  if (family === 'pg-resnet20') {
    if (options.weightMode !== undefined) throw new RangeError('options.weightMode does not apply to pg-resnet20 (its weights are 8-bit sign-magnitude)');
    return importPgResnet20(sd as Parameters<typeof importPgResnet20>[0], options);
  }
  return family === 'resnet20q' ? importResnet20q(sd, options) : importSvhnq(sd, options);
}
