'use strict';
// Model specs the CLI accepts: a model file path (anyprec.load), or `zoo:<name>` for a
// random-weight demo model built from the library's zoo (deterministic weights, seed 1).

const anyprec = require('anyprec');

const ZOO = {
  mlp: () => anyprec.zoo.mlp(),
  cnn: () => anyprec.zoo.cnn(),
  resnet20: () => anyprec.zoo.preactResnet(),
  'gated-cnn': () => anyprec.zoo.gatedCnn(),
  'gated-resnet20': () => anyprec.zoo.gatedPreactResnet(),
};

/** @returns {Promise<import('anyprec').Model>} */
async function loadModelSpec(spec) {
  if (typeof spec !== 'string' || spec.length === 0) throw new TypeError('model must be a model file path or zoo:<name>');
  if (spec.startsWith('zoo:')) {
    const name = spec.slice(4);
    const make = ZOO[name];
    if (!make) throw new RangeError(`unknown zoo model '${name}' (one of ${Object.keys(ZOO).join(', ')})`);
    const g = make();
    return anyprec.Model.build(g, anyprec.zoo.randomTensors(g, 1));
  }
  return anyprec.load(spec);
}

module.exports = { loadModelSpec, ZOO_MODELS: Object.keys(ZOO) };
