// A minimal protocol-buffers writer: just enough of the wire format to serialize ONNX models
// built in code (varints, length-delimited bytes/strings/sub-messages). No schema. And a
// schema-less reader of one message's top-level fields (readFields), enough to list the nodes of
// a model ORT wrote back.
//
// A message is kept as a list of byte chunks plus their total length, and only flattened once
// at the end, so a 64 MB weight tensor nested three messages deep is copied once, not three
// times.

const textEncoder = new TextEncoder();

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

/** Encodes a non-negative integer (< 2^53) as a base-128 varint. */
function varintBytes(value) {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`protobuf: varint must be a non-negative safe integer, got ${value}`);
  }
  const out = [];
  // Plain arithmetic rather than bit operators: those truncate to 32 bits.
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return Uint8Array.from(out);
}

function tag(field, wireType) {
  return varintBytes(field * 8 + wireType);
}

export class Message {
  constructor() {
    /** @type {Uint8Array[]} */
    this.chunks = [];
    this.length = 0;
  }

  #push(bytes) {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }

  /** int32/int64/uint64/enum/bool field (non-negative values only; ONNX needs no others here). */
  varint(field, value) {
    this.#push(tag(field, WIRE_VARINT));
    return this.#push(varintBytes(typeof value === 'boolean' ? Number(value) : value));
  }

  /** bytes field; `data` may be any ArrayBufferView (its bytes are referenced, not copied). */
  bytes(field, data) {
    const view = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.#push(tag(field, WIRE_LEN));
    this.#push(varintBytes(view.length));
    return this.#push(view);
  }

  /** string field (UTF-8). */
  string(field, text) {
    return this.bytes(field, textEncoder.encode(text));
  }

  /** Embedded message field. */
  message(field, msg) {
    this.#push(tag(field, WIRE_LEN));
    this.#push(varintBytes(msg.length));
    for (const c of msg.chunks) this.#push(c);
    return this;
  }

  /** The serialized message as one contiguous buffer. */
  finish() {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/**
 * The top-level fields of one serialized message, in order: { field, wire, value } with `value` a
 * number for varints (exact below 2^53), a Uint8Array view for length-delimited fields, and the raw
 * 4 or 8 bytes for fixed32/fixed64. Throws a RangeError on truncated or unknown wire data.
 */
export function readFields(bytes) {
  const out = [];
  let at = 0;
  const varint = () => {
    let v = 0, mul = 1;
    for (;;) {
      if (at >= bytes.length) throw new RangeError('protobuf: truncated varint');
      const b = bytes[at++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 0x80;
    }
  };
  const take = (n) => {
    if (at + n > bytes.length) throw new RangeError('protobuf: truncated field');
    const view = bytes.subarray(at, at + n);
    at += n;
    return view;
  };
  while (at < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8), wire = key % 8;
    if (wire === WIRE_VARINT) out.push({ field, wire, value: varint() });
    else if (wire === WIRE_LEN) out.push({ field, wire, value: take(varint()) });
    else if (wire === 1) out.push({ field, wire, value: take(8) });
    else if (wire === 5) out.push({ field, wire, value: take(4) });
    else throw new RangeError(`protobuf: unsupported wire type ${wire} (field ${field})`);
  }
  return out;
}
