// Importer for the Precision-Gating ResNet (cornell-zhang/dnn-gating): its graph is the zoo's
// (nn/zoo/pg-resnet), built here into a Model from a state_dict.
import { Model } from '../nn/model';
import { floatTensors, pgResnetGraph } from '../nn/zoo/pg-resnet';
import type { PgResnet20Options, Tensors } from '../nn/zoo/pg-resnet';

export { floatTensors, pgResnetGraph } from '../nn/zoo/pg-resnet';
export type { PgResnet20Options, StateTensor } from '../nn/zoo/pg-resnet';

/**
 * Builds an anyprec Model from a dnn-gating PG ResNet state_dict (e.g. loadSafetensorsSync(path).tensors):
 * widths, depth, classes and input channels from the tensor shapes; B = 3, Bhb = 2, 8-bit weights
 * by default. Run options `gate` / `gateOffset` steer the gates; runSyncDetailed reports them.
 */
export function importPgResnet20(tensors: Tensors, options: PgResnet20Options = {}): Model {
  return Model.build(pgResnetGraph(tensors, options), floatTensors(tensors));
}
