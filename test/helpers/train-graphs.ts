// Small any-precision graphs for the training tests.
import type { GraphSpec } from '../../lib';

const P = (v: number): [number, number] => [v, v];

/** A small any-precision CNN for 1x28x28 digits: float stem, qconv, qlinear, max pools, float classifier. */
export function smallCnn(width = 8): GraphSpec {
  return {
    format: 'anyprec-graph/1', inputShape: [1, 28, 28], bitList: [1, 2, 4, 8, 32], weightMode: 'requant', nodes: [
      { name: 'conv0', op: 'conv2d', inChannels: 1, outChannels: width, kernel: P(3), stride: P(1), padding: P(1), dilation: P(1), bias: false, inputs: ['input'] },
      { name: 'bn0', op: 'batchnorm', channels: width, eps: 1e-5, switchable: true, inputs: ['conv0'] },
      { name: 'q0', op: 'quantize', inputs: ['bn0'] },
      { name: 'pool0', op: 'maxpool2d', kernel: P(2), stride: P(2), padding: P(0), inputs: ['q0'] },
      { name: 'conv1', op: 'qconv2d', inChannels: width, outChannels: 2 * width, kernel: P(3), stride: P(1), padding: P(1), dilation: P(1), inputs: ['pool0'] },
      { name: 'bn1', op: 'batchnorm', channels: 2 * width, eps: 1e-5, switchable: true, inputs: ['conv1'] },
      { name: 'q1', op: 'quantize', inputs: ['bn1'] },
      { name: 'pool1', op: 'maxpool2d', kernel: P(2), stride: P(2), padding: P(0), inputs: ['q1'] },
      { name: 'flat', op: 'flatten', inputs: ['pool1'] },
      { name: 'fc0', op: 'qlinear', inFeatures: 2 * width * 49, outFeatures: 32, bias: false, inputs: ['flat'] },
      { name: 'bn2', op: 'batchnorm', channels: 32, eps: 1e-5, switchable: true, inputs: ['fc0'] },
      { name: 'q2', op: 'quantize', inputs: ['bn2'] },
      { name: 'fc1', op: 'linear', inFeatures: 32, outFeatures: 10, bias: true, inputs: ['q2'] },
    ],
  };
}
