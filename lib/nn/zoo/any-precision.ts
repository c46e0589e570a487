// The Any-Precision networks (SHI-Labs/Any-Precision-DNNs): the pre-activation ResNet and the SVHN
// network, with the reference checkpoints' node names.
import type { GraphSpec } from '../graph';
import { Builder, graph, ZooOptions } from './builder';

export interface PreactResnetOptions extends ZooOptions {
  widths?: [number, number, number];
  /** Residual blocks per stage (3 gives ResNet-20). */
  blocks?: number;
  classes?: number;
  inChannels?: number;
  /** Input height = width. */
  inputSize?: number;
  /**
   * One batch norm set per bit-width on the projection shortcuts too (`layers.<i>.skip_bn.bn_dict`).
   * The reference shares the shortcut batch norm across widths (default false, so its checkpoints
   * import unchanged); the statistics of a shortcut's input differ per width like every other BN's.
   */
  switchableShortcut?: boolean;
}

/**
 * Any-Precision pre-activation ResNet (SHI-Labs/Any-Precision-DNNs resnet_quan.py) — ResNet-20 by
 * default; node names follow the reference state_dict (`layers.3.bn0.bn_dict.<bits>.weight`).
 */
export function preactResnet(o: PreactResnetOptions = {}): GraphSpec {
  const widths = o.widths ?? [16, 32, 64], blocks = o.blocks ?? 3, inChannels = o.inChannels ?? 3;
  const b = new Builder();
  b.conv('conv0', 'conv2d', inChannels, widths[0], 3, 1, 1);
  let inC = widths[0];
  for (let i = 0; i < 3 * blocks; i++) {
    const outC = widths[Math.floor(i / blocks)];
    const stride = i > 0 && i % blocks === 0 ? 2 : 1;
    const p = `layers.${i}`;
    const x = b.last;
    b.bn(`${p}.bn0.bn_dict`, inC);
    const a = b.add({ name: `${p}.act0`, op: 'quantize' });
    let shortcut = x;
    if (stride !== 1 || inC !== outC) {
      b.conv(`${p}.skip_conv`, 'conv2d', inC, outC, 1, stride, 0);
      shortcut = o.switchableShortcut ? b.bn(`${p}.skip_bn.bn_dict`, outC) : b.bn(`${p}.skip_bn`, outC, false);
      b.last = a;
    }
    b.conv(`${p}.conv0`, 'qconv2d', inC, outC, 3, stride, 1);
    b.bn(`${p}.bn1.bn_dict`, outC);
    b.add({ name: `${p}.act1`, op: 'quantize' });
    const v = b.conv(`${p}.conv1`, 'qconv2d', outC, outC, 3, 1, 1);
    b.add({ name: `${p}.add`, op: 'add', inputs: [v, shortcut] });
    inC = outC;
  }
  b.bn('bn.bn_dict', inC);
  b.add({ name: 'pool', op: 'globalavgpool' });
  b.add({ name: 'fc', op: 'linear', inFeatures: inC, outFeatures: o.classes ?? 10, bias: true });
  const size = o.inputSize ?? 32;
  return graph(b, [inChannels, size, size], { bitList: [1, 2, 4, 8, 32], weightMode: 'requant', ...o });
}

/** The Any-Precision ResNet-20 (resnet20q) at widths [C1, C2, C3]. */
export function resnet20(widths: [number, number, number] = [16, 32, 64], classes = 10, o: ZooOptions = {}): GraphSpec {
  return preactResnet({ ...o, widths, classes, blocks: 3 });
}

/**
 * Any-Precision SVHN network (svhn_quan.py, `expand` scales the widths); 40x40 inputs. Node names
 * follow the reference state_dict (`layers.<index>`).
 */
export function svhnq(expand = 2, o: ZooOptions & { classes?: number; inputSize?: number } = {}): GraphSpec {
  const e = expand;
  const b = new Builder();
  const bn = (i: number, c: number) => b.bn(`layers.${i}.bn_dict`, c);
  const act = (i: number) => b.add({ name: `layers.${i}`, op: 'quantize' });
  const pool = (i: number) => b.add({ name: `layers.${i}`, op: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] });
  b.add({ name: 'layers.0', op: 'conv2d', inChannels: 3, outChannels: 6 * e, kernel: [5, 5], stride: [1, 1], padding: [0, 0], dilation: [1, 1], bias: true });
  pool(1);
  act(2);
  b.conv('layers.3', 'qconv2d', 6 * e, 8 * e, 3, 1, 1);
  bn(4, 8 * e);
  act(5);
  b.conv('layers.6', 'qconv2d', 8 * e, 8 * e, 3, 1, 1);
  bn(7, 8 * e);
  pool(8);
  act(9);
  b.conv('layers.10', 'qconv2d', 8 * e, 16 * e, 3, 1, 0);
  bn(11, 16 * e);
  act(12);
  b.conv('layers.13', 'qconv2d', 16 * e, 16 * e, 3, 1, 1);
  bn(14, 16 * e);
  act(15);
  b.conv('layers.16', 'qconv2d', 16 * e, 16 * e, 3, 1, 0);
  bn(17, 16 * e);
  act(18);
  b.add({ name: 'layers.19', op: 'dropout', p: 0.5 });
  b.conv('layers.20', 'qconv2d', 16 * e, 64 * e, 5, 1, 0);
  b.add({ name: 'layers.21', op: 'clampact' });
  b.add({ name: 'flatten', op: 'flatten' });
  b.add({ name: 'fc', op: 'linear', inFeatures: 64 * e, outFeatures: o.classes ?? 10, bias: true });
  const size = o.inputSize ?? 40;
  return graph(b, [3, size, size], { bitList: [1, 2, 4, 8, 32], weightMode: 'requant', ...o });
}
