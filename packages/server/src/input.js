'use strict';
// Turning a request (JSON or binary body) into a Tensor and run settings, with a 400 naming the
// field and what was expected for anything wrong. The JSON schema (server.js) has already checked
// the JSON body's types; these checks are the ones a schema cannot express (shape against the
// model, length against the shape, float32 range, bits against the model's bit list).

const { Tensor, Uint8Tensor } = require('anyprec');
const { HttpError } = require('./queue');

/**
 * What one sample of the model's input is: its shape and dtype (a model whose graph has an
 * `input` section takes it raw — uint8 digits for the models `anyprec train` writes — and
 * preprocesses it itself).
 */
function inputSpec(model) {
  const input = model.graph.input;
  return input ? { shape: input.shape, dtype: input.dtype } : { shape: model.graph.inputShape, dtype: 'float32' };
}

/** A tensor of the model's input kind over `data` (Float32Array or Uint8Array). */
function inputTensor(spec, data, shape) {
  return spec.dtype === 'uint8' ? new Uint8Tensor(data, shape) : new Tensor(data, shape);
}

/** n samples of the model's input filled with a mid-range value (warm-up and calibration calls). */
function sampleInput(model, n) {
  const spec = inputSpec(model);
  const per = spec.shape.reduce((a, b) => a * b, 1);
  const data = spec.dtype === 'uint8' ? new Uint8Array(n * per).fill(128) : new Float32Array(n * per).fill(0.5);
  return inputTensor(spec, data, [n, ...spec.shape]);
}

/** uint8 values from JSON numbers: integers 0..255, else a 400 naming the first bad one. */
function bytesFromJson(values, where) {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v > 255) throw bad(`${where}[${i}] must be an integer 0..255 (this model takes uint8 input), got ${JSON.stringify(v)}`);
    out[i] = v;
  }
  return out;
}

const GATES = ['trained', 'open', 'closed'];
const MAX_DEADLINE_MS = 3_600_000;

function bad(message) {
  return new HttpError(400, 'BAD_REQUEST', message);
}

/** Checks [N, ...inputShape] against the model and the per-request sample limit. */
function checkShape(shape, inputShape, maxSamples, where) {
  if (!Array.isArray(shape) || shape.length !== inputShape.length + 1 ||
      !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    throw bad(`${where} must be [N, ${inputShape.join(', ')}] (positive integers), got ${JSON.stringify(shape)}`);
  }
  for (let i = 0; i < inputShape.length; i++) {
    if (shape[i + 1] !== inputShape[i]) {
      throw bad(`${where} must be [N, ${inputShape.join(', ')}] for this model, got [${shape.join(', ')}]`);
    }
  }
  if (shape[0] > maxSamples) throw bad(`${where}[0] (samples) must be at most ${maxSamples}, got ${shape[0]}`);
  return shape;
}

function checkData(data, shape, where) {
  const need = shape.reduce((a, b) => a * b, 1);
  if (data.length !== need) {
    throw bad(`${where} must hold ${need} values for shape [${shape.join(', ')}], got ${data.length}`);
  }
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw bad(`${where}[${i}] must be a finite number (float32 range), got ${String(data[i])}`);
    }
  }
}

/** bits: b or {weights, activations}, each in the model's bit list. */
function parseBits(bits, bitList, where) {
  if (bits === undefined) return undefined;
  const check = (v, name) => {
    if (!Number.isInteger(v) || !bitList.includes(v)) {
      throw bad(`${name} must be one of this model's bit-widths (${bitList.join(', ')}), got ${JSON.stringify(v)}`);
    }
    return v;
  };
  if (typeof bits === 'number') {
    const b = check(bits, where);
    return { weights: b, activations: b };
  }
  if (bits && typeof bits === 'object' && !Array.isArray(bits)) {
    return { weights: check(bits.weights, `${where}.weights`), activations: check(bits.activations, `${where}.activations`) };
  }
  throw bad(`${where} must be a bit-width or { weights, activations }, got ${JSON.stringify(bits)}`);
}

function parseOptions(o, model, gated, bitsName = 'bits') {
  const out = { pinned: parseBits(o.bits, model.graph.bitList, bitsName) };
  if (o.gate !== undefined) {
    if (!GATES.includes(o.gate)) throw bad(`gate must be 'trained', 'open' or 'closed', got ${JSON.stringify(o.gate)}`);
    out.gate = o.gate;
  }
  if (o.gateOffset !== undefined) {
    if (typeof o.gateOffset !== 'number' || !Number.isFinite(o.gateOffset)) {
      throw bad(`gateOffset must be a finite number, got ${JSON.stringify(o.gateOffset)}`);
    }
    if (!gated) throw bad('gateOffset applies only to models with precision-gated layers; this model has none');
    if (o.gate !== undefined && o.gate !== 'trained') throw bad(`gateOffset needs gate 'trained', got gate ${JSON.stringify(o.gate)}`);
    out.gateOffset = o.gateOffset;
  }
  if (o.deadlineMs !== undefined) {
    if (typeof o.deadlineMs !== 'number' || !(o.deadlineMs > 0 && o.deadlineMs <= MAX_DEADLINE_MS)) {
      throw bad(`deadlineMs must be a number in (0, ${MAX_DEADLINE_MS}], got ${JSON.stringify(o.deadlineMs)}`);
    }
    out.deadlineMs = o.deadlineMs;
  }
  return out;
}

/** The JSON body form (types already checked by the schema). */
function fromJson(body, model, limits) {
  const spec = inputSpec(model);
  const shape = checkShape(body.shape, spec.shape, limits.maxSamples, 'shape');
  if (spec.dtype === 'uint8') {
    const need = shape.reduce((a, b) => a * b, 1);
    if (body.data.length !== need) throw bad(`data must hold ${need} values for shape [${shape.join(', ')}], got ${body.data.length}`);
    return { x: inputTensor(spec, bytesFromJson(body.data, 'data'), shape), ...parseOptions(body, model, limits.gated) };
  }
  const data = Float32Array.from(body.data);
  checkData(data, shape, 'data');
  return { x: new Tensor(data, shape), ...parseOptions(body, model, limits.gated) };
}

function header(headers, name) {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The settings of a binary request from its headers (x-shape / x-dtype / x-bits / x-deadline-ms /
 * x-gate / x-gate-offset), checked against the model: { shape, dtype, need, options }.
 */
function binaryHeaders(headers, model, limits) {
  const rawShape = header(headers, 'x-shape');
  if (rawShape === undefined) throw bad('a binary body needs the header x-shape: N,C,H,W');
  const parts = String(rawShape).split(',').map((s) => s.trim());
  const nums = parts.map((s) => (/^\d+$/.test(s) ? Number(s) : NaN));
  if (nums.some((n) => !Number.isSafeInteger(n))) throw bad(`x-shape must be comma-separated positive integers, got ${JSON.stringify(rawShape)}`);
  const spec = inputSpec(model);
  const shape = checkShape(nums, spec.shape, limits.maxSamples, 'x-shape');
  const dtype = String(header(headers, 'x-dtype') ?? spec.dtype).trim().toLowerCase();
  if (spec.dtype === 'uint8') {
    // the model preprocesses raw bytes itself: only uint8 bodies, passed through unchanged
    if (dtype !== 'uint8') throw bad(`x-dtype must be uint8 for this model (it takes uint8 input), got ${JSON.stringify(dtype)}`);
  } else if (dtype !== 'float32' && dtype !== 'uint8') {
    throw bad(`x-dtype must be float32 or uint8, got ${JSON.stringify(dtype)}`);
  }
  const o = {};
  const rawBits = header(headers, 'x-bits');
  if (rawBits !== undefined) {
    const b = String(rawBits).split(',').map((s) => s.trim());
    const num = (s) => (/^\d+$/.test(s) ? Number(s) : s);
    if (b.length === 1) o.bits = num(b[0]);
    else if (b.length === 2) o.bits = { weights: num(b[0]), activations: num(b[1]) };
    else throw bad(`x-bits must be 'b' or 'w,a', got ${JSON.stringify(rawBits)}`);
  }
  const rawDeadline = header(headers, 'x-deadline-ms');
  if (rawDeadline !== undefined) o.deadlineMs = Number(rawDeadline);
  const rawGate = header(headers, 'x-gate');
  if (rawGate !== undefined) o.gate = String(rawGate);
  const rawOffset = header(headers, 'x-gate-offset');
  if (rawOffset !== undefined) o.gateOffset = Number(rawOffset);
  return { shape, dtype, modelDtype: spec.dtype, need: shape.reduce((a, b) => a * b, 1), options: parseOptions(o, model, limits.gated, 'x-bits') };
}

/** Most header sets a server keeps parsed (requests usually repeat a few). */
const MAX_CACHED_HEADERS = 32;

/**
 * The binary form: raw little-endian values, x-shape / x-dtype / x-bits / x-deadline-ms headers.
 * limits.headerCache (a Map, optional): header sets already checked, by their text, so a
 * repeated x-shape / x-dtype / x-bits needs no parsing; the body is checked every time.
 */
function fromBinary(buf, headers, model, limits) {
  const shapeText = headers['x-shape'], dtypeText = headers['x-dtype'], bitsText = headers['x-bits'];
  const cacheable = limits.headerCache !== undefined && typeof shapeText === 'string' &&
    (dtypeText === undefined || typeof dtypeText === 'string') && (bitsText === undefined || typeof bitsText === 'string') &&
    headers['x-deadline-ms'] === undefined && headers['x-gate'] === undefined && headers['x-gate-offset'] === undefined;
  let h;
  if (cacheable) {
    const key = `${shapeText}|${dtypeText ?? ''}|${bitsText ?? ''}`;
    h = limits.headerCache.get(key);
    if (h === undefined) {
      h = binaryHeaders(headers, model, limits);
      Object.freeze(h.shape);
      if (h.options.pinned) Object.freeze(h.options.pinned); // shared by the requests that repeat these headers
      if (limits.headerCache.size >= MAX_CACHED_HEADERS) limits.headerCache.clear();
      limits.headerCache.set(key, h);
    }
  } else {
    h = binaryHeaders(headers, model, limits);
  }
  const { dtype, need } = h;
  const shape = h.shape.slice();
  let data;
  if (h.modelDtype === 'uint8') {
    if (buf.length !== need) throw bad(`the body must hold ${need} uint8 values for x-shape [${shape.join(', ')}], got ${buf.length} bytes`);
    data = new Uint8Array(need);
    data.set(buf);
  } else if (dtype === 'float32') {
    if (buf.length !== need * 4) throw bad(`the body must hold ${need} float32 values (${need * 4} bytes) for x-shape [${shape.join(', ')}], got ${buf.length} bytes`);
    data = new Float32Array(need);
    new Uint8Array(data.buffer).set(buf); // copy: aligned, and little-endian on every platform anyprec runs on
    checkData(data, shape, 'body');
  } else {
    if (buf.length !== need) throw bad(`the body must hold ${need} uint8 values for x-shape [${shape.join(', ')}], got ${buf.length} bytes`);
    data = new Float32Array(need);
    for (let i = 0; i < need; i++) data[i] = buf[i] / 255; // bytes are pixel intensities 0..255 -> [0, 1]
  }
  return { x: inputTensor({ dtype: h.modelDtype }, data, shape), ...h.options };
}

module.exports = { fromJson, fromBinary, parseBits, GATES, inputSpec, sampleInput };
