// node --test tests/www/ — what the model panel says about a model (www/model-info.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { explainLoadError, modelRows } from '../../www/model-info.js';

const INFO = {
  name: 'm', format: 'safetensors', architecture: 'Conditional DETR', labels: ['a', 'b', 'c'], numQueries: 300,
  dModel: 256, heads: 8, encoderLayers: 6, decoderLayers: 6, backbone: 'resnet50', parameters: 43_500_000,
};

test('the details rows name every field, parameters in millions', () => {
  const rows = Object.fromEntries(modelRows(INFO));
  assert.equal(rows.classes, '3');
  assert.equal(rows.queries, 300);
  assert.equal(rows['d_model · heads'], '256 · 8');
  assert.equal(rows['layers (enc · dec)'], '6 · 6');
  assert.equal(rows.parameters, '43.5 M');
  assert.equal(rows.architecture, 'Conditional DETR');
  assert.equal(Object.fromEntries(modelRows({ ...INFO, parameters: 12345 })).parameters, (12345).toLocaleString());
});

test('a shape mismatch is explained with its first tensor', () => {
  const text = explainLoadError('3 mis-shaped keys: class_labels_classifier.weight (file [91, 256], model [2, 256]), …');
  assert.match(text, /^The weights do not fit the configuration: 3 tensors/);
  assert.match(text, /class_labels_classifier\.weight is \[91, 256\] in the file, the config expects \[2, 256\]/);
});

test('missing tensors are named; other messages pass through with one full stop', () => {
  assert.match(explainLoadError('missing keys: model.backbone.conv1.weight, …'), /lacks tensors the config needs \(e\.g\. model\.backbone\.conv1\.weight\)/);
  assert.equal(explainLoadError('not a safetensors file.'), 'not a safetensors file.');
  assert.equal(explainLoadError('not a safetensors file'), 'not a safetensors file.');
});
