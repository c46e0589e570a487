// Where a model's save / serialize methods find the model-file writer. The writer lives on the io
// floor, above this one; it registers itself when its module loads (the package entry loads it),
// so Model keeps its methods without importing upwards.
import type { ModelState } from './types';

/** What the writer reads of a model. */
export interface SavableModel {
  state(): ModelState;
}

/** Writes models in the anyprec model file format. */
export interface ModelWriter {
  save(model: SavableModel, path: string): Promise<void>;
  saveSync(model: SavableModel, path: string): void;
  serialize(model: SavableModel): Uint8Array;
}

let writer: ModelWriter | undefined;

/** Called by the model-file module when it loads. */
export function registerModelWriter(w: ModelWriter): void {
  writer = w;
}

/** The registered writer, or an Error saying which module provides it. */
export function modelWriter(): ModelWriter {
  if (writer === undefined) {
    throw new Error("no model-file writer is registered: import the package entry (or its io/model-file module) to save models");
  }
  return writer;
}
