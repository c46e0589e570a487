// ONNX models built in code, and ONNX Runtime sessions for the GEMM and model baselines.
//
// Only the handful of onnx.proto messages these graphs need are written (field numbers
// from onnx/onnx.proto): ModelProto, OperatorSetIdProto, GraphProto, NodeProto, AttributeProto
// (INT and INTS only), TensorProto, ValueInfoProto, TypeProto(.Tensor),
// TensorShapeProto(.Dimension). Weights are initializers, so a run() only carries the
// activations across from JS.
import { Message, readFields } from './protobuf.mjs';

/** TensorProto.DataType values used here. */
export const DataType = Object.freeze({ FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6 });

const IR_VERSION = 8; // pairs with opset 17; any ORT >= 1.13 loads it
const OPSET = 17;

/** TensorProto with raw little-endian data; `dims` [] makes a scalar. */
function tensorProto(name, dataType, dims, data) {
  const t = new Message();
  for (const d of dims) t.varint(1, d); // dims (repeated int64, unpacked: valid in proto2 and 3)
  t.varint(2, dataType); // data_type
  t.string(8, name); // name
  t.bytes(9, data); // raw_data (x86 and arm64 are little-endian, as ONNX requires)
  return t;
}

/**
 * ValueInfoProto for a dense tensor; a string dim is symbolic (dim_param, e.g. 'N' for batch);
 * `dims` null leaves the shape out (ORT infers it: used for extra outputs of calibration graphs).
 */
function valueInfo(name, elemType, dims) {
  if (dims === null) return new Message().string(1, name).message(2, new Message().message(1, new Message().varint(1, elemType)));
  const shape = new Message();
  for (const d of dims) {
    shape.message(1, typeof d === 'string' ? new Message().string(2, d) : new Message().varint(1, d)); // dim_param | dim_value
  }
  const tensorType = new Message().varint(1, elemType).message(2, shape); // elem_type, shape
  const type = new Message().message(1, tensorType); // TypeProto.tensor_type
  return new Message().string(1, name).message(2, type);
}

/** AttributeProto.AttributeType values used here. */
const AttributeType = Object.freeze({ INT: 2, INTS: 7 });

/** AttributeProto for a non-negative int (INT) or a list of them (INTS). */
function attributeProto(name, value) {
  const a = new Message().string(1, name); // name
  if (Array.isArray(value)) {
    for (const v of value) a.varint(8, v); // ints (repeated int64, unpacked)
    return a.varint(20, AttributeType.INTS); // type
  }
  return a.varint(3, value).varint(20, AttributeType.INT); // i, type
}

/** NodeProto; `attrs` maps attribute names to ints or int lists (non-negative). */
function nodeProto(opType, inputs, outputs, name, attrs = {}) {
  const n = new Message();
  for (const i of inputs) n.string(1, i);
  for (const o of outputs) n.string(2, o);
  n.string(3, name);
  n.string(4, opType);
  for (const [key, value] of Object.entries(attrs)) n.message(5, attributeProto(key, value));
  return n;
}

/**
 * Serializes a one-node model.
 * @param {object} g
 * @param {string} g.opType
 * @param {{name: string, type: number, dims: number[]}[]} g.inputs   fed per run
 * @param {{name: string, type: number, dims: number[], data: ArrayBufferView}[]} g.initializers
 * @param {{name: string, type: number, dims: number[]}} g.output
 * @param {string[]} g.nodeInputs   node input names in operator order
 * @returns {Uint8Array} ModelProto bytes
 */
export function oneNodeModel(g) {
  const graph = new Message();
  graph.message(1, nodeProto(g.opType, g.nodeInputs, [g.output.name], `${g.opType.toLowerCase()}0`));
  graph.string(2, `anyprec-bench-${g.opType}`);
  for (const init of g.initializers) graph.message(5, tensorProto(init.name, init.type, init.dims, init.data));
  for (const inp of g.inputs) graph.message(11, valueInfo(inp.name, inp.type, inp.dims));
  graph.message(12, valueInfo(g.output.name, g.output.type, g.output.dims));

  const model = new Message();
  model.varint(1, IR_VERSION);
  model.string(2, 'anyprec bench/gemm.mjs');
  model.message(7, graph);
  model.message(8, new Message().string(1, '').varint(2, OPSET)); // default domain ("ai.onnx")
  return model.finish();
}

/**
 * Serializes a model with any number of nodes (listed in topological order).
 * @param {object} g
 * @param {string} g.name
 * @param {{opType: string, inputs: string[], outputs: string[], attrs?: Record<string, number | number[]>}[]} g.nodes
 * @param {{name: string, type: number, dims: (number | string)[]}[]} g.inputs   fed per run
 * @param {{name: string, type: number, dims: number[], data: ArrayBufferView}[]} g.initializers
 * @param {{name: string, type: number, dims: (number | string)[]}[]} g.outputs
 * @param {string} [g.producer]
 * @returns {Uint8Array} ModelProto bytes
 */
export function graphModel(g) {
  const graph = new Message();
  g.nodes.forEach((n, i) => graph.message(1, nodeProto(n.opType, n.inputs, n.outputs, `${n.opType.toLowerCase()}${i}`, n.attrs)));
  graph.string(2, g.name);
  for (const init of g.initializers) graph.message(5, tensorProto(init.name, init.type, init.dims, init.data));
  for (const inp of g.inputs) graph.message(11, valueInfo(inp.name, inp.type, inp.dims));
  for (const out of g.outputs) graph.message(12, valueInfo(out.name, out.type, out.dims));

  const model = new Message();
  model.varint(1, IR_VERSION);
  model.string(2, g.producer ?? 'anyprec bench');
  model.message(7, graph);
  model.message(8, new Message().string(1, '').varint(2, OPSET)); // default domain ("ai.onnx")
  return model.finish();
}

/**
 * Y[M,N] = X[M,K] · W[K,N] in fp32 (MatMul with W a constant initializer).
 * @param {Float32Array} w  K x N row-major
 */
export function matMulFp32Model(m, k, n, w) {
  return oneNodeModel({
    opType: 'MatMul',
    inputs: [{ name: 'X', type: DataType.FLOAT, dims: [m, k] }],
    initializers: [{ name: 'W', type: DataType.FLOAT, dims: [k, n], data: w }],
    nodeInputs: ['X', 'W'],
    output: { name: 'Y', type: DataType.FLOAT, dims: [m, n] },
  });
}

/**
 * Y[M,N] = X[M,K] · W[K,N] in fp32 with the Gemm operator (alpha = beta = 1, no transposes, no
 * bias; W a constant initializer) — what a fully-connected layer exports to.
 * @param {Float32Array} w  K x N row-major
 */
export function gemmFp32Model(m, k, n, w) {
  return oneNodeModel({
    opType: 'Gemm',
    inputs: [{ name: 'X', type: DataType.FLOAT, dims: [m, k] }],
    initializers: [{ name: 'W', type: DataType.FLOAT, dims: [k, n], data: w }],
    nodeInputs: ['X', 'W'],
    output: { name: 'Y', type: DataType.FLOAT, dims: [m, n] },
  });
}

/**
 * Y[M,N] = (X - xZero) · (W - wZero) in int32 (MatMulInteger: uint8 activations, int8 weights,
 * zero points as scalar initializers).
 * @param {Int8Array} w  K x N row-major
 */
export function matMulIntegerModel(m, k, n, w, xZero, wZero) {
  return oneNodeModel({
    opType: 'MatMulInteger',
    inputs: [{ name: 'X', type: DataType.UINT8, dims: [m, k] }],
    initializers: [
      { name: 'W', type: DataType.INT8, dims: [k, n], data: w },
      { name: 'X_zero', type: DataType.UINT8, dims: [], data: Uint8Array.of(xZero) },
      { name: 'W_zero', type: DataType.INT8, dims: [], data: Int8Array.of(wZero) },
    ],
    nodeInputs: ['X', 'W', 'X_zero', 'W_zero'],
    output: { name: 'Y', type: DataType.INT32, dims: [m, n] },
  });
}

/**
 * The nodes of a serialized model: Map('domain:opType' -> count), domain '' being ai.onnx. Reads
 * ModelProto.graph (7) -> GraphProto.node (1) -> NodeProto.op_type (4) / domain (7). Used on
 * the model ORT writes with the session option `optimizedModelFilePath`, to see which kernels
 * its graph optimiser really fused a graph into.
 */
export function modelOpTypes(bytes) {
  const text = new TextDecoder();
  const counts = new Map();
  for (const g of readFields(bytes).filter((f) => f.field === 7 && f.wire === 2)) {
    for (const n of readFields(g.value).filter((f) => f.field === 1 && f.wire === 2)) {
      const fields = readFields(n.value);
      const op = fields.find((f) => f.field === 4 && f.wire === 2);
      const domain = fields.find((f) => f.field === 7 && f.wire === 2);
      const key = `${domain ? text.decode(domain.value) : ''}:${op ? text.decode(op.value) : '?'}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

/** Single-threaded session options: one intra-op and one inter-op thread, full graph opts. */
export function singleThreadOptions() {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
}
