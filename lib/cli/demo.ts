// `anyprec demo`: the bundled MNIST model (or --model) classifies the 2,000 bundled test digits at
// every bit-width it was stored for, and float: accuracy, latency per image (batch 1) and per
// batch, throughput, bit-ops; a chart of accuracy vs latency (SVG, rendered with vega-lite).
import { Command, InvalidArgumentError } from 'commander';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { kernels, loadSync, Model, Uint8Tensor } from '../index';
import { isaArg, isaHelp, median, positiveInt, printTable, timeMs } from './common';

/** The package root (dist/cli/demo.js or lib/cli/demo.ts, two floors down). */
const ROOT = path.join(__dirname, '..', '..');
/** What the package ships for the demo: replacing the model is replacing this one file. */
export const BUNDLED = {
  model: path.join(ROOT, 'models', 'mnist', 'resnet20-any.anyprec'),
  digits: path.join(ROOT, 'models', 'mnist', 'test-digits.u8'),
  labels: path.join(ROOT, 'models', 'mnist', 'test-labels.u8'),
};

interface DemoOptions {
  model: string;
  digits: string;
  labels: string;
  limit?: number;
  batch: number;
  threads: number;
  isa?: string;
  chart: string | false;
  json?: boolean;
}

export interface DemoResult {
  /** Bit-width of weights and activations; 32 = float. */
  bits: number;
  /** Fraction of the digits classified right (0..1). */
  accuracy: number;
  /** Median latency of one digit alone (batch 1). */
  msPerImage: number;
  /** Median latency of one batch of `batch` digits. */
  msPerBatch: number;
  /** Digits per second over the whole set, in batches. */
  imagesPerSecond: number;
  /** Bit-ops (MACs x weight bits x activation bits) per digit. */
  bitOpsPerImage: number;
  macsPerImage: number;
}

const DIGIT = 28 * 28;
/** Digits timed one at a time per bit-width (the median is reported). */
const SINGLE = 25;

function checkModel(model: Model, file: string): void {
  const input = model.graph.input;
  if (input?.dtype !== 'uint8' || input.shape.join() !== '1,28,28') {
    const takes = input ? `${input.dtype} [N, ${input.shape.join(', ')}]` : `float32 [N, ${model.graph.inputShape.join(', ')}]`;
    throw new InvalidArgumentError(`--model: ${file} does not take MNIST digits (uint8 [N, 1, 28, 28]); it takes ${takes}`);
  }
}

/** The widths to show: the model's bit list, 1..8 ascending, float (32) last. */
function widths(model: Model): number[] {
  return [...model.graph.bitList].sort((a, b) => a - b);
}

function measure(model: Model, digits: Uint8Array, labels: Uint8Array, bits: number, batch: number): DemoResult {
  const n = labels.length;
  const opts = { bits };
  const one = (i: number) => new Uint8Tensor(digits.subarray(i * DIGIT, (i + 1) * DIGIT), [1, 1, 28, 28]);
  model.runSync(one(0), opts); // builds the plan
  let correct = 0;
  const batchMs: number[] = [];
  for (let a = 0; a < n; a += batch) {
    const b = Math.min(n, a + batch);
    const x = new Uint8Tensor(digits.subarray(a * DIGIT, b * DIGIT), [b - a, 1, 28, 28]);
    let pred: Int32Array = new Int32Array(0);
    const ms = timeMs(() => { pred = model.runSync(x, opts).argmax(); });
    if (b - a === batch) batchMs.push(ms);
    for (let i = 0; i < b - a; i++) if (pred[i] === labels[a + i]) correct++;
  }
  const total = batchMs.reduce((s, v) => s + v, 0);
  const single = Array.from({ length: Math.min(SINGLE, n) }, (_, i) => timeMs(() => model.runSync(one(i), opts)));
  const ops = model.bitOps(1, opts);
  return {
    bits, accuracy: correct / n, msPerImage: median(single), msPerBatch: batchMs.length ? median(batchMs) : NaN,
    imagesPerSecond: batchMs.length ? (batchMs.length * batch * 1000) / total : NaN, bitOpsPerImage: ops.bitOps, macsPerImage: ops.macs,
  };
}

/** vega-lite spec: accuracy vs latency per digit, one point per bit-width. */
function chartSpec(results: DemoResult[], title: string): Record<string, unknown> {
  const values = results.map((r) => ({ label: r.bits === 32 ? 'float' : `${r.bits}-bit`, ms: r.msPerImage, accuracy: r.accuracy }));
  const enc = { x: { field: 'ms', type: 'quantitative' }, y: { field: 'accuracy', type: 'quantitative' } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Accuracy vs latency on MNIST test digits, one model at every width', subtitle: title },
    width: 460,
    height: 260,
    data: { values },
    layer: [
      {
        mark: { type: 'point', filled: true, size: 80 },
        encoding: {
          x: { ...enc.x, title: 'ms per digit (batch 1, median)', scale: { zero: false } },
          y: { ...enc.y, title: 'top-1 accuracy', axis: { format: '.0%' }, scale: { zero: false } },
        },
      },
      { mark: { type: 'text', dx: 18, dy: -8, fontSize: 11 }, encoding: { ...enc, text: { field: 'label' } } },
    ],
  };
}

/**
 * The SVG of a vega-lite spec, rendered headless. vega and vega-lite are ES modules and
 * development dependencies: an installed package without them gets undefined (no chart).
 */
async function renderSvg(spec: Record<string, unknown>): Promise<string | undefined> {
  // import() kept as written (TypeScript would turn it into require(), which cannot load them)
  const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<Record<string, any>>;
  let vega: Record<string, any>, vl: Record<string, any>;
  try {
    const from = { paths: [ROOT, process.cwd()] };
    vega = await importModule(pathToFileURL(require.resolve('vega', from)).href);
    vl = await importModule(pathToFileURL(require.resolve('vega-lite', from)).href);
  } catch {
    return undefined;
  }
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = (await view.toSVG()) as string;
  view.finalize();
  return svg;
}


async function demo(o: DemoOptions): Promise<void> {
  if (o.isa) kernels.setIsa(o.isa);
  kernels.setThreads(o.threads);
  const model = loadSync(o.model);
  checkModel(model, o.model);
  let digits = new Uint8Array(fs.readFileSync(o.digits)), labels = new Uint8Array(fs.readFileSync(o.labels));
  if (digits.length !== labels.length * DIGIT) {
    throw new InvalidArgumentError(`--digits ${o.digits} holds ${digits.length} bytes: ${labels.length} digits (--labels) need ${labels.length * DIGIT}`);
  }
  if (o.limit !== undefined && o.limit < labels.length) {
    labels = labels.subarray(0, o.limit);
    digits = digits.subarray(0, o.limit * DIGIT);
  }
  const batch = Math.min(o.batch, labels.length);
  const results = widths(model).map((bits) => measure(model, digits, labels, bits, batch));
  const setting = `${labels.length} digits, batch ${batch}, isa ${kernels.isa()}, ${kernels.threads()} thread${kernels.threads() > 1 ? 's' : ''}`;
  let chart: string | undefined;
  if (o.chart !== false) {
    const svg = await renderSvg(chartSpec(results, `${path.basename(o.model)}, ${setting}`));
    if (svg !== undefined) {
      fs.writeFileSync(o.chart, svg);
      chart = o.chart;
    }
  }
  if (o.json) {
    console.log(JSON.stringify({ model: o.model, digits: labels.length, batch, isa: kernels.isa(), threads: kernels.threads(), results, ...(chart ? { chart } : {}) }));
    return;
  }
  console.log(`anyprec demo: ${o.model}`);
  console.log(`one stored model classifies the MNIST test digits at every width it holds (${setting})\n`);
  printTable([
    ['bits', 'accuracy', 'ms/digit (batch 1)', `ms/batch of ${batch}`, 'digits/s', 'Mbit-ops/digit'],
    ...results.map((r) => [r.bits === 32 ? 'float' : String(r.bits), `${(100 * r.accuracy).toFixed(2)}%`, r.msPerImage.toFixed(2),
      r.msPerBatch.toFixed(1), r.imagesPerSecond.toFixed(0), (r.bitOpsPerImage / 1e6).toFixed(0)]),
  ]);
  if (chart) console.log(`\nchart: ${chart}`);
  else if (o.chart !== false) console.log('\n(no chart: install vega and vega-lite beside anyprec to draw one)');
}

/** Adds the `demo` command to the anyprec command line. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('classify the bundled MNIST test digits with the bundled trained model at every bit-width: accuracy, latency, ' +
      'throughput, bit-ops, and a chart')
    .option('--model <file>', 'an anyprec model file that takes MNIST digits (uint8 [N, 1, 28, 28]); default: the bundled model', BUNDLED.model)
    .option('--digits <file>', 'uint8 28x28 digits, row-major, one after another; default: the 2,000 bundled test digits', BUNDLED.digits)
    .option('--labels <file>', 'uint8 labels, one per digit', BUNDLED.labels)
    .option('--limit <n>', 'only the first n digits', positiveInt('--limit'))
    .option('--batch <n>', 'digits per call for accuracy and throughput', positiveInt('--batch'), 250)
    .option('--threads <n>', 'kernel threads', positiveInt('--threads'), 1)
    .option('--isa <name>', isaHelp(), isaArg)
    .option('--chart <file>', 'the accuracy-vs-latency chart (SVG) to write', 'anyprec-demo.svg')
    .option('--no-chart', 'write no chart')
    .option('--json', 'print {"model", "digits", "batch", "isa", "threads", "results": [{"bits", "accuracy", "msPerImage", "msPerBatch", ' +
      '"imagesPerSecond", "bitOpsPerImage", "macsPerImage"}], "chart"?} (bits 32 = float, accuracy 0..1)')
    .action((o: DemoOptions) => demo(o));
}
