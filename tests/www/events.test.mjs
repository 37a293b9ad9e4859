// node --test tests/www/ — the page's event bus and its one table of event names (www/events.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { EventBus, EVENT_NAMES, EVENT_LOG_LIMIT } from '../../www/events.js';

test('listeners get the detail, in the order they subscribed; off unsubscribes', () => {
  const bus = new EventBus(() => 1.6);
  const got = [];
  const off = bus.on('model', (d) => got.push(['a', d.name]));
  bus.on('model', (d) => got.push(['b', d.name]));
  bus.emit('model', { name: 'x' });
  off();
  bus.emit('model', { name: 'y' });
  assert.deepEqual(got, [['a', 'x'], ['b', 'x'], ['b', 'y']]);
  assert.deepEqual(bus.log.map((e) => [e.t, e.type, e.detail.name]), [[2, 'model', 'x'], [2, 'model', 'y']]);
});

test('an unknown event name is refused, emitting or listening', () => {
  const bus = new EventBus();
  assert.throws(() => bus.emit('modell', {}), TypeError);
  assert.throws(() => bus.on('nope', () => {}), TypeError);
  assert.equal(bus.log.length, 0);
});

test('the table names each event once, and the page emits none outside it', async () => {
  assert.equal(new Set(EVENT_NAMES).size, EVENT_NAMES.length);
  const fs = await import('node:fs');
  const path = await import('node:path');
  const www = path.join(import.meta.dirname, '../../www');
  const source = fs.readFileSync(path.join(www, 'events.js'), 'utf8');
  for (const name of EVENT_NAMES) assert.match(source, new RegExp(`@property \\{[^\\n]*\\} ${name} `), `${name} is documented in AppEvents`);
  for (const file of fs.readdirSync(www).filter((f) => f.endsWith('.js'))) {
    const text = fs.readFileSync(path.join(www, file), 'utf8');
    for (const [, name] of text.matchAll(/\.(?:emit|on|next)\('([a-z-]+)'/g)) assert.ok(EVENT_NAMES.includes(name), `${file}: ${name}`);
  }
});

test('the record keeps the latest events', () => {
  const bus = new EventBus();
  for (let i = 0; i <= EVENT_LOG_LIMIT; i++) bus.emit('step', { step: i, loss: 0, epochDone: false });
  assert.equal(bus.log.length, EVENT_LOG_LIMIT + 1 - 100);
  assert.equal(bus.log.at(-1).detail.step, EVENT_LOG_LIMIT);
});

test('next resolves with the next event, or rejects after its time', async () => {
  const bus = new EventBus();
  const next = bus.next('tab', 1000);
  bus.emit('tab', { name: 'train' });
  assert.deepEqual(await next, { name: 'train' });
  await assert.rejects(bus.next('ready', 10), /no ready event within 10 ms/);
  assert.equal(bus.listeners.get('ready').size, 0);
});

test('a listener that throws is reported and does not stop the others', () => {
  const bus = new EventBus();
  const seen = [];
  const reported = [];
  const had = Object.hasOwn(globalThis, 'reportError');
  const before = globalThis.reportError;
  globalThis.reportError = (e) => reported.push(e.message);
  try {
    bus.on('tab', () => { throw new Error('boom'); });
    bus.on('tab', (d) => seen.push(d.name));
    bus.emit('tab', { name: 'detect' });
  } finally {
    if (had) globalThis.reportError = before;
    else delete globalThis.reportError;
  }
  assert.deepEqual(seen, ['detect']);
  assert.deepEqual(reported, ['boom']);
});
