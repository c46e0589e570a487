// Networks for 28x28 digits (MNIST): an MLP and a small CNN.
import type { GraphSpec } from '../graph';
import { Builder, graph, ZooOptions } from './builder';

/**
 * MLP for 28x28 digits: quantise the input, then quantised linear layers with switchable BN and
 * activation quantisers between them; the last layer gives float logits (with bias).
 */
export function mlp(sizes: number[] = [784, 1024, 1024, 10], o: ZooOptions = {}): GraphSpec {
  const b = new Builder();
  b.add({ name: 'q0', op: 'quantize' });
  for (let i = 0; i + 1 < sizes.length; i++) {
    const last = i + 2 === sizes.length;
    b.add({ name: `fc${i}`, op: 'qlinear', inFeatures: sizes[i], outFeatures: sizes[i + 1], bias: last });
    if (!last) {
      b.bn(`bn${i}`, sizes[i + 1]);
      b.add({ name: `q${i + 1}`, op: 'quantize' });
    }
  }
  return graph(b, [sizes[0]], o);
}

/** Small CNN for 1x28x28 digits: float stem, two quantised convs, quantised FC, float classifier. */
export function cnn(o: ZooOptions = {}): GraphSpec {
  const b = new Builder();
  b.conv('conv0', 'conv2d', 1, 32, 3, 1, 1);
  b.bn('bn0', 32);
  b.add({ name: 'q0', op: 'quantize' });
  b.conv('conv1', 'qconv2d', 32, 64, 3, 1, 1);
  b.bn('bn1', 64);
  b.add({ name: 'q1', op: 'quantize' });
  b.add({ name: 'pool1', op: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] });
  b.conv('conv2', 'qconv2d', 64, 64, 3, 1, 1);
  b.bn('bn2', 64);
  b.add({ name: 'q2', op: 'quantize' });
  b.add({ name: 'pool2', op: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] });
  b.add({ name: 'flat', op: 'flatten' });
  b.add({ name: 'fc0', op: 'qlinear', inFeatures: 64 * 7 * 7, outFeatures: 256, bias: false });
  b.bn('bn3', 256);
  b.add({ name: 'q3', op: 'quantize' });
  b.add({ name: 'fc1', op: 'linear', inFeatures: 256, outFeatures: 10, bias: true });
  return graph(b, [1, 28, 28], o);
}
