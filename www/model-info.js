// @ts-check
// What the model panel says about a model, without the DOM: the rows of its details and the gist of an
// engine message that refused a checkpoint. Tested by tests/www/model-info.test.mjs.

/** @typedef {import('./protocol.js').ModelInfo} ModelInfo */

/**
 * The rows of the model panel's details.
 * @param {ModelInfo} i
 * @returns {[string, string | number][]}
 */
export function modelRows(i) {
  return [
    ['architecture', i.architecture], ['format', i.format], ['backbone', i.backbone], ['classes', `${i.labels.length}`], ['queries', i.numQueries],
    ['d_model · heads', `${i.dModel} · ${i.heads}`], ['layers (enc · dec)', `${i.encoderLayers} · ${i.decoderLayers}`],
    ['parameters', i.parameters >= 1e6 ? `${(i.parameters / 1e6).toFixed(1)} M` : i.parameters.toLocaleString()],
  ];
}

/**
 * The gist of a weights/config mismatch from the engine's message (the full text goes under details).
 * @param {string} message
 */
export function explainLoadError(message) {
  const shape = message.match(/(\d+) mis-shaped keys?: ([^\s(,]+) \(file \[([^\]]*)\], model \[([^\]]*)\]\)/);
  if (shape) return `The weights do not fit the configuration: ${shape[1]} tensors have other shapes than the config describes (e.g. ${shape[2]} is [${shape[3]}] in the file, the config expects [${shape[4]}]).`;
  const missing = message.match(/missing keys?: ([^\s,(]+)/);
  if (missing) return `The weights do not fit the configuration: the file lacks tensors the config needs (e.g. ${missing[1]}).`;
  return `${message.replace(/\.$/, '')}.`;
}
