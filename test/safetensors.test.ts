// safetensors reader/writer: round trips, the reference fixture, and malformed files.
// Bad files must be rejected with a message naming what is wrong, before any large allocation.
import { describe, expect, it } from '@jest/globals';
import { constants } from 'buffer';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Dtype, loadSafetensors, loadSafetensorsSync, readSafetensors } from '../lib/io/safetensors';
import { TensorInput, saveSafetensors, writeSafetensors } from '../lib/io/safetensors-write';
import { fixturePath } from './helpers/fixtures';
import { thrown } from './helpers/thrown';

const MAX_LENGTH = constants.MAX_LENGTH;

/** A file from a header (object, or raw JSON text) and data bytes; `len` overrides the length. */
function file(header: unknown, data: Uint8Array | number = 0, len?: bigint): Uint8Array {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + bytes.length);
  new DataView(out.buffer).setBigUint64(0, len ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes, 8 + json.length);
  return out;
}

const t = (dtype: string, shape: unknown[], data_offsets: unknown[]) => ({ dtype, shape, data_offsets });

describe('round trip', () => {
  const tensors: Record<string, TensorInput> = {
    u8: { dtype: 'U8', shape: [3], data: Uint8Array.of(0, 7, 255) }, // 3 bytes: misaligns what follows
    f32: { dtype: 'F32', shape: [2, 3], data: Float32Array.of(0, -0, 1.5, -3.25e-30, Infinity, 3.4028234e38) },
    f64: { dtype: 'F64', shape: [2], data: Float64Array.of(Math.PI, -1e-300) },
    f16: { dtype: 'F16', shape: [6], data: Float32Array.of(1, -2.5, 65504, 2 ** -24, -Infinity, 0.099975586) },
    bf16: { dtype: 'BF16', shape: [4], data: Float32Array.of(1, -3.140625, 2 ** -126, 1.875 * 2 ** 122) },
    i64: { dtype: 'I64', shape: [3], data: BigInt64Array.of(-(2n ** 63n), 171n, 2n ** 63n - 1n) },
    u64: { dtype: 'U64', shape: [1], data: BigUint64Array.of(2n ** 64n - 1n) },
    i32: { dtype: 'I32', shape: [1, 2], data: Int32Array.of(-(2 ** 31), 2 ** 31 - 1) },
    u32: { dtype: 'U32', shape: [2], data: Uint32Array.of(0, 2 ** 32 - 1) },
    i16: { dtype: 'I16', shape: [2], data: Int16Array.of(-32768, 32767) },
    u16: { dtype: 'U16', shape: [2], data: Uint16Array.of(1, 65535) },
    i8: { dtype: 'I8', shape: [3], data: Int8Array.of(-128, 0, 127) },
    bool: { dtype: 'BOOL', shape: [2], data: Uint8Array.of(1, 0) },
    scalar: { dtype: 'F32', shape: [], data: Float32Array.of(42) },
    empty: { dtype: 'I32', shape: [0, 5], data: new Int32Array(0) },
  };
  const metadata = { format: 'pt', note: 'ünïcode ✓', empty: '' };

  it('gives back every dtype, shape, value and the metadata', () => {
    const bytes = writeSafetensors(tensors, metadata);
    const r = readSafetensors(bytes);
    expect(r.metadata).toEqual(metadata);
    expect([...r.tensors.keys()]).toEqual(Object.keys(tensors));
    for (const [name, want] of Object.entries(tensors)) {
      const got = r.tensors.get(name)!;
      expect(got.dtype).toBe(want.dtype);
      expect(got.shape).toEqual(want.shape);
      expect(Object.prototype.toString.call(got.data)).toBe(Object.prototype.toString.call(want.data));
      expect(Array.from(got.data as ArrayLike<unknown>)).toEqual(Array.from(want.data as ArrayLike<unknown>));
    }
    // the F32 after 3 bytes of U8 sits at an unaligned offset: it must be a correct copy
    expect(r.tensors.get('f32')!.data.byteOffset % 4).toBe(0);
  });

  it('pads the header with spaces to a multiple of 8 and packs tensors without gaps', () => {
    const bytes = writeSafetensors(tensors, metadata);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
    expect(header.trimEnd().endsWith('}')).toBe(true);
    expect(/^ *$/.test(header.slice(header.trimEnd().length))).toBe(true);
    const total = Object.values(tensors).reduce((a, x) => a + (x.data as ArrayBufferView).byteLength /
      (x.dtype === 'F16' || x.dtype === 'BF16' ? 2 : 1), 0);
    expect(bytes.length).toBe(8 + n + total);
  });

  it('writing what it read reproduces the file byte for byte (raw bytes win over data)', () => {
    const a = writeSafetensors(tensors, metadata);
    const b = writeSafetensors(readSafetensors(a).tensors, metadata);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
  });

  it('rounds float32 to F16 and BF16 to nearest, ties to even', () => {
    const f16 = Float32Array.of(1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 2 ** -25, 3 * 2 ** -26, NaN);
    const bf16 = Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, NaN);
    const r = readSafetensors(writeSafetensors({
      h: { dtype: 'F16', shape: [6], data: f16 }, b: { dtype: 'BF16', shape: [3], data: bf16 },
    }));
    expect(Array.from(r.tensors.get('h')!.data as Float32Array))
      .toEqual([1, 1 + 2 ** -9, Infinity, 0, 2 ** -24, NaN]);
    expect(Array.from(r.tensors.get('b')!.data as Float32Array)).toEqual([1, 1 + 2 ** -6, NaN]);
  });

  it('saves and loads files (async and sync)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-st-'));
    try {
      const p = path.join(dir, 'x.safetensors');
      await saveSafetensors(p, tensors, metadata);
      for (const r of [await loadSafetensors(p), loadSafetensorsSync(p)]) {
        expect(r.metadata).toEqual(metadata);
        expect(Array.from(r.tensors.get('i64')!.data as BigInt64Array)).toEqual([-(2n ** 63n), 171n, 2n ** 63n - 1n]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fixture A (PyTorch state_dict written by the reference safetensors)', () => {
  const keys = () => fs.readFileSync(fixturePath('A/keys.tsv'), 'utf8').trim().split('\n').map((line) => {
    const [key, dtype, shape] = line.split('\t');
    return { key, dtype: ({ float32: 'F32', int64: 'I64' } as Record<string, Dtype>)[dtype], shape: JSON.parse(shape) };
  });

  it('holds every key of keys.tsv, in order, with its dtype and shape', async () => {
    const want = keys();
    expect(want.length).toBe(508);
    const r = await loadSafetensors(fixturePath('A/model.safetensors'));
    expect([...r.tensors.keys()]).toEqual(want.map((k) => k.key));
    for (const k of want) {
      const got = r.tensors.get(k.key)!;
      expect({ key: k.key, dtype: got.dtype, shape: got.shape }).toEqual(k);
    }
    expect(r.metadata.bit_list).toBe('[1, 2, 4, 8, 32]');
    expect(r.tensors.get('conv0.weight')!.shape).toEqual([16, 3, 3, 3]);
    expect(r.tensors.get('layers.6.conv1.weight')!.data.length).toBe(64 * 64 * 9);
    expect(r.tensors.get('fc.weight')!.shape).toEqual([10, 64]);
  });

  it('reads num_batches_tracked as an I64 scalar', () => {
    const r = loadSafetensorsSync(fixturePath('A/model.safetensors'));
    const nbt = r.tensors.get('layers.0.bn0.bn_dict.1.num_batches_tracked')!;
    expect(nbt.dtype).toBe('I64');
    expect(nbt.shape).toEqual([]);
    expect(Object.prototype.toString.call(nbt.data)).toBe('[object BigInt64Array]');
    expect(nbt.data[0]).toBe(171n); // the training ran 171 steps (expected.json)
  });

  it('re-serialises both fixture files byte for byte', () => {
    for (const name of ['A/model.safetensors', 'A/wq_levels.safetensors']) {
      const bytes = fs.readFileSync(fixturePath(name));
      const r = readSafetensors(bytes);
      expect(Buffer.compare(Buffer.from(writeSafetensors(r.tensors, r.metadata)), bytes)).toBe(0);
    }
  });
});

describe('malformed files', () => {
  const good = t('F32', [2], [0, 8]);
  it.each([
    ['shorter than 8 bytes', new Uint8Array(5), /5 bytes, too short/],
    ['header cut short', file({ a: good }, 8).subarray(0, 30), /header length \d+ runs past the end/],
    ['absurd header length', file({ a: good }, 8, 2n ** 60n), /header length 1152921504606846976 exceeds/],
    ['data cut short', file({ a: t('F32', [4], [0, 16]) }, 8), /'a'.*\[0, 16\] run past the end of the data section \(8 bytes\)/],
    ['offsets past the end', file({ a: good, b: t('U8', [1], [8, 9]) }, 8), /'b'.*run past the end/],
    ['overlapping tensors', file({ a: good, b: t('F32', [1], [4, 8]) }, 8), /'b' \[4, 8\] overlaps tensor 'a' \[0, 8\]/],
    ['empty tensor inside another', file({ a: good, e: t('U8', [0], [4, 4]) }, 8), /'e' \[4, 4\] overlaps tensor 'a' \[0, 8\]/],
    ['unknown dtype', file({ a: t('F8_E4M3', [8], [0, 8]) }, 8), /'a': unknown dtype "F8_E4M3"/],
    ['dtype not a string', file({ a: t(4 as never, [2], [0, 8]) }, 8), /'a': unknown dtype 4/],
    ['shape/length mismatch', file({ a: t('F32', [3], [0, 8]) }, 8), /'a': shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] hold 8/],
    ['huge shape', file({ a: t('F32', [2 ** 40, 2 ** 12], [0, 8]) }, 8), /'a': shape .* needs more than 8 bytes/],
    ['non-JSON header', file('{"a": {"dtype": "F32",'), /header is not valid JSON/],
    ['header not an object', file('[1, 2]'), /header must be a JSON object/],
    ['invalid UTF-8', file('{"a":1}').map((b, i) => (i === 10 ? 0xff : b)), /not valid UTF-8/],
    ['entry not an object', file({ a: 3 }), /'a': entry must be an object/],
    ['negative shape entry', file({ a: t('F32', [-2], [0, 8]) }, 8), /'a': shape\[0\] must be a non-negative integer, got -2/],
    ['fractional shape entry', file({ a: t('F32', [1, 2.5], [0, 10]) }, 10), /'a': shape\[1\] must be a non-negative integer, got 2.5/],
    ['shape not an array', file({ a: t('F32', 2 as never, [0, 8]) }, 8), /'a': shape must be an array/],
    ['offsets not two integers', file({ a: t('F32', [2], [0]) }, 8), /'a': data_offsets must be two non-negative integers/],
    ['fractional offset', file({ a: t('F32', [2], [0, 8.5]) }, 8), /'a': data_offsets must be two/],
    ['begin after end', file({ a: t('U8', [0], [8, 0]) }, 8), /'a': data_offsets \[8, 0\] begin after end/],
    ['hole between tensors', file({ a: t('F32', [1], [0, 4]), b: t('F32', [1], [8, 12]) }, 12), /'b' starts at 8, leaving a hole of 4 bytes after tensor 'a'/],
    ['hole at the start', file({ a: t('F32', [1], [4, 8]) }, 8), /'a' starts at 4, leaving a hole of 4 bytes after the header/],
    ['bytes after the last tensor', file({ a: good }, 12), /4 bytes after the last tensor are not part of any tensor/],
    ['metadata value not a string', file({ __metadata__: { n: 3 }, a: good }, 8), /__metadata__\['n'\] must be a string, got 3/],
    ['metadata not an object', file({ __metadata__: 'x', a: good }, 8), /__metadata__ must be an object/],
  ])('%s', (_label, bytes, message) => {
    const e = thrown(() => readSafetensors(bytes as Uint8Array));
    expect(e.name).toBe('SafetensorsError');
    expect(e.message).toMatch(message);
  });

  it('a well-formed header still passes (the cases above differ from it in one point)', () => {
    expect(readSafetensors(file({ a: good }, 8)).tensors.get('a')!.data.length).toBe(2);
  });

  it('rejects a multi-GB file by its header without reading the data', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-st-'));
    try {
      const p = path.join(dir, 'big.safetensors');
      const size = 6 * 2 ** 30; // sparse: nothing is written but the header
      const head = file({ a: t('F99', [size], [0, size]) });
      fs.writeFileSync(p, head);
      fs.truncateSync(p, size);
      // Both refusals are made from the header: the dtype is checked as the header is parsed, the
      // size before any buffer is allocated (no wall-clock assertion: the messages say which check fired).
      await expect(loadSafetensors(p)).rejects.toMatchObject({ name: 'SafetensorsError', message: expect.stringMatching(/unknown dtype "F99"/) });
      expect(thrown(() => loadSafetensorsSync(p)).message).toMatch(/big\.safetensors: tensor 'a': unknown dtype/);
      // a good header whose data cannot fit one buffer is refused before allocating
      if (MAX_LENGTH < 2 ** 36) { // Node 20: 4 GiB; newer Node allows more, and this check cannot fire
        const dataSize = MAX_LENGTH + 1;
        const ok = file(JSON.stringify({ a: t('U8', [dataSize], [0, dataSize]) }).padEnd(96));
        fs.writeFileSync(p, ok);
        fs.truncateSync(p, ok.length + dataSize);
        expect(thrown(() => loadSafetensorsSync(p))).toMatchObject({ name: 'RangeError', message: expect.stringMatching(/larger than one buffer/) });
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the file, and reports a file too short for the length', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'anyprec-st-'));
    try {
      const p = path.join(dir, 'tiny.safetensors');
      fs.writeFileSync(p, Uint8Array.of(1, 2, 3));
      await expect(loadSafetensors(p)).rejects.toMatchObject({ message: expect.stringMatching(/tiny\.safetensors: file is 3 bytes/) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('arguments', () => {
  it.each([
    ['bytes not a Uint8Array', () => readSafetensors('abc' as never), 'TypeError', /bytes must be a Uint8Array/],
    ['path not a string', () => loadSafetensorsSync(42 as never), 'TypeError', /path must be a string/],
    ['tensors not an object', () => writeSafetensors(null as never), 'TypeError', /tensors must be a Map/],
    ['unknown dtype', () => writeSafetensors({ a: { dtype: 'F8' as never, shape: [1], data: new Uint8Array(1) } }), 'RangeError', /tensors\['a'\]\.dtype must be one of/],
    ['bad shape', () => writeSafetensors({ a: { dtype: 'U8', shape: [-1], data: new Uint8Array(1) } }), 'RangeError', /tensors\['a'\]\.shape/],
    ['wrong array type', () => writeSafetensors({ a: { dtype: 'F32', shape: [1], data: new Float64Array(1) } }), 'TypeError', /tensors\['a'\]\.data must be a Float32Array for F32.*got Float64Array/],
    ['wrong length', () => writeSafetensors({ a: { dtype: 'I32', shape: [2, 2], data: new Int32Array(3) } }), 'RangeError', /must hold 4 values/],
    ['bytes not bytes', () => writeSafetensors({ a: { dtype: 'U8', shape: [1], bytes: [1] as never } }), 'TypeError', /tensors\['a'\]\.bytes must be a Uint8Array/],
    ['wrong byte count', () => writeSafetensors({ a: { dtype: 'F16', shape: [2], bytes: new Uint8Array(3) } }), 'RangeError', /tensors\['a'\]\.bytes must hold 4 bytes/],
    ['reserved name', () => writeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }), 'RangeError', /reserved/],
    ['metadata value', () => writeSafetensors({}, { a: 1 as never }), 'TypeError', /metadata\['a'\] must be a string/],
  ])('%s', (_label, fn, name, message) => {
    const e = thrown(fn);
    expect(e.name).toBe(name);
    expect(e.message).toMatch(message);
  });

  it('loadSafetensors rejects (does not throw) on a missing file', async () => {
    await expect(loadSafetensors(path.join(os.tmpdir(), 'no-such-anyprec.safetensors'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
