// node --test tests/www/ — the request table (www/protocol.js) and the engine client over it (www/engine.js),
// with a fake worker: buffers moved each way, `keep`, unknown names, timeouts and a crashed worker.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { REQUESTS, fatalKind, requestSpec, transferable } from '../../www/protocol.js';
import { EngineClient, EngineError } from '../../www/engine.js';

test('the worker has a handler for every request of the table, and no other', () => {
  const src = readFileSync(new URL('../../www/worker.js', import.meta.url), 'utf8');
  const body = src.slice(src.indexOf('const handlers = {'), src.indexOf('\n};', src.indexOf('const handlers = {')));
  const handlers = [...body.matchAll(/^ {2}async (\w+)\(/gm)].map((m) => m[1]).sort();
  assert.deepEqual(handlers, Object.keys(REQUESTS).sort());
});

test('each request names the buffers that travel with it', () => {
  const rgba = new ArrayBuffer(16), w = new ArrayBuffer(8), a = new ArrayBuffer(4), b = new ArrayBuffer(4);
  assert.deepEqual(requestSpec('detect').send({ frameId: 1, rgba, width: 2, height: 2, options: {} }), [rgba]);
  assert.deepEqual(requestSpec('detect').answer({ rgba, detections: [] }), [rgba]);
  assert.deepEqual(requestSpec('loadModel').send({ weights: w, config: null, name: 'm' }), [w]);
  const dataset = { classNames: ['x'], train: [{ rgba: a, width: 1, height: 1, boxes: [] }], val: [{ rgba: b, width: 1, height: 1, boxes: [] }] };
  assert.deepEqual(requestSpec('startTraining').send({ dataset, options: {} }), [a, b]);
  assert.deepEqual(requestSpec('startTraining').send({ dataset, options: {}, start: { weights: w, config: null, name: 's' } }), [a, b, w]);
  // DETR's attention has no spatial/content maps: only the combined one moves.
  const combined = new Float32Array(3);
  assert.deepEqual(requestSpec('attention').answer({ spatial: null, content: null, combined }), [combined.buffer]);
  const model = new Uint8Array(2), optimizer = new Uint8Array(3);
  assert.deepEqual(requestSpec('snapshotTraining').answer({ model, optimizer, step: 1, epoch: 0 }), [model.buffer, optimizer.buffer]);
  assert.deepEqual(requestSpec('trainStep').send({}), []);
  for (const [name, spec] of Object.entries(REQUESTS)) assert.ok(spec.slowMs > 0 && spec.slowMs <= spec.hungMs, name);
});

test('an unknown request is a TypeError naming it; a buffer listed twice moves once', () => {
  assert.throws(() => requestSpec('detcet'), (e) => e instanceof TypeError && /detcet/.test(e.message));
  assert.throws(() => requestSpec('toString'), TypeError);
  const x = new ArrayBuffer(1);
  assert.deepEqual(transferable([x, x, null, new Uint8Array(1)]), [x]);
});

/** A worker stand-in that records what it is sent and answers on demand. */
class FakeWorker {
  constructor() { this.sent = []; this.onmessage = null; }
  postMessage(message, transfer) { this.sent.push({ message, transfer }); }
  answer(message) { this.onmessage({ data: message }); }
  terminate() { this.terminated = true; }
}


test('the client moves the table’s buffers, or none with keep, and resolves with the answer', async () => {
  const fatal = [];
  const c = new EngineClient({ onFatal: (m) => fatal.push(m) });
  const worker = new FakeWorker();
  c.worker = worker;
  const rgba = new ArrayBuffer(16);
  const answer = c.call('detect', { frameId: 7, rgba, width: 2, height: 2, options: {} });
  assert.equal(worker.sent.length, 1);
  assert.deepEqual(worker.sent[0].transfer, [rgba]);
  assert.equal(worker.sent[0].message.type, 'detect');
  const kept = c.call('detect', { frameId: 8, rgba: new ArrayBuffer(4), width: 1, height: 1, options: {} }, { keep: true });
  assert.deepEqual(worker.sent[1].transfer, []);
  assert.equal(c.busy, 2);
  c.stop('tested');
  await assert.rejects(answer, (e) => e instanceof EngineError && e.fatal && e.request === 'detect');
  await assert.rejects(kept, EngineError);
  assert.equal(c.busy, 0);
  assert.ok(worker.terminated);
  assert.deepEqual(fatal, []);
});

test('unknown requests reject before anything is sent; a hung request ends the worker', async () => {
  const fatal = [];
  const c = new EngineClient({ onFatal: (m) => fatal.push(m) });
  const worker = new FakeWorker();
  c.worker = worker;
  await assert.rejects(c.call('detcet', {}), TypeError);
  assert.equal(worker.sent.length, 0);
  await assert.rejects(c.call('trainStep', {}, { timeoutMs: 20 }), (e) => e.name === 'TimeoutError' && e.fatal && /trainStep/.test(e.message));
  assert.equal(fatal.length, 1);
  assert.match(fatal[0], /stopped answering \(trainStep/);
  assert.equal(c.worker, null);
  await assert.rejects(c.call('trainStep'), (e) => e.fatal && /not running/.test(e.message));
});

test('engine errors that end the engine: a lost GPU device, a trapped module; others are shown', () => {
  // What wgpu said in Chromium after the browser's GPU process was made to crash (e2e q).
  const poisoned = 'reading predictions back from the device failed: The device is poisoned Caused by: The device is poisoned Caused by: Unknown: A valid external Instance reference no longer exists.';
  assert.equal(fatalKind(poisoned), 'gpu');
  assert.equal(fatalKind('Parent device is lost'), 'gpu');
  assert.equal(fatalKind('DeviceLost'), 'gpu');
  assert.equal(fatalKind('RuntimeError: unreachable executed'), 'crash');
  assert.equal(fatalKind('memory access out of bounds'), 'crash');
  for (const shown of ['no model is loaded', 'query 12 out of range (the model has 12 queries)', 'the validation split is empty', 'A fine-tuning step on 2 images needs about 5.8 GB']) {
    assert.equal(fatalKind(shown), null, shown);
  }
});
