// Worker-thread side of Model.run(): rebuilds the model from shared state and runs calls.
import { parentPort, workerData } from 'worker_threads';
import * as kernels from '../../core/kernels';
import { isUint8Array } from '../../core/check';
import { Tensor, Uint8Tensor } from '../../core/tensor';
import { Model } from '../model';
import type { ModelState, RunOptions } from '../types';

const model = Model.fromState(workerData as ModelState);

parentPort!.on('message', (m: { data: Float32Array | Uint8Array; shape: number[]; opts?: RunOptions; collect: boolean; isa: string; threads: number;
  thresholds?: Array<[string, Float32Array]> }) => {
  try {
    if (m.thresholds) model.adoptGateThresholds(m.thresholds);
    if (kernels.isa() !== m.isa) kernels.setIsa(m.isa);
    if (kernels.threads() !== m.threads) kernels.setThreads(m.threads);
    const x = isUint8Array(m.data) ? new Uint8Tensor(m.data, m.shape) : new Tensor(m.data as Float32Array, m.shape);
    if (m.collect) {
      const r = model.runSyncDetailed(x, m.opts);
      parentPort!.postMessage({ output: r.output.data, shape: r.output.shape, stats: r.stats }, [r.output.data.buffer as ArrayBuffer]);
    } else {
      const out = model.runSync(x, m.opts);
      parentPort!.postMessage({ output: out.data, shape: out.shape }, [out.data.buffer as ArrayBuffer]);
    }
  } catch (e) {
    const err = e as Error;
    parentPort!.postMessage({ error: { name: err.name, message: err.message } });
  }
});
