// node --test tests/www/ — fine-tuning options from the form (www/options.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { fieldNumber, trainOptions, TRAIN_DEFAULTS } from '../../www/options.js';

test('empty, invalid or negative fields fall back to the defaults', () => {
  assert.equal(fieldNumber('', 3), 3);
  assert.equal(fieldNumber('abc', 3), 3);
  assert.equal(fieldNumber('-1', 3), 3);
  assert.equal(fieldNumber('0', 3), 0);
  assert.equal(fieldNumber('2e-4', 3), 2e-4);
  const o = trainOptions({});
  assert.deepEqual({ lr: o.lr, lrBackbone: o.lrBackbone, batchSize: o.batchSize, maxSize: o.maxSize, dropout: o.dropout }, { ...TRAIN_DEFAULTS });
  assert.deepEqual([o.augment, o.freezeBackbone, o.fastMode, o.seed, o.fastScales], [false, false, false, 0, 1]);
});

test('values are rounded and clamped to what the engine accepts', () => {
  const o = trainOptions({ lr: '3e-4', lrBackbone: '0', batchSize: '0.2', maxSize: '10', dropout: '5', augment: true, fastMode: true });
  assert.equal(o.lr, 3e-4);
  assert.equal(o.lrBackbone, 0);
  assert.equal(o.batchSize, 1);
  assert.equal(o.maxSize, 64);
  assert.equal(o.dropout, 0.9);
  assert.ok(o.augment && o.fastMode && !o.freezeBackbone);
  assert.equal(trainOptions({ batchSize: '3.6', maxSize: '511.5' }).batchSize, 4);
  assert.equal(trainOptions({ maxSize: '511.5' }).maxSize, 512);
});
