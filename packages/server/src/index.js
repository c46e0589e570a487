'use strict';
// @anyprec/server: an HTTP inference server for anyprec models.
const { createServer, batchDependent, defaultPrecisions } = require('./server');
const { Governor } = require('./governor');
const { InferenceQueue, HttpError } = require('./queue');
const { loadModelSpec, ZOO_MODELS } = require('./load');

module.exports = { createServer, Governor, InferenceQueue, HttpError, loadModelSpec, ZOO_MODELS, batchDependent, defaultPrecisions };
