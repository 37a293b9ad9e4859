// node --test tests/www/ — grouping, expiry, overflow and the log of the page's messages (www/messages.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { messageKey, expiryMs, overflow, MessageLog } from '../../www/messages.js';

test('the same message shares a key; an id is a key of its own', () => {
  assert.equal(messageKey({ level: 'warn', title: 'A', text: 'b' }), messageKey({ level: 'warn', title: 'A', text: 'b' }));
  assert.notEqual(messageKey({ level: 'warn', title: 'A', text: 'b' }), messageKey({ level: 'info', title: 'A', text: 'b' }));
  assert.equal(messageKey({ id: 'slow', title: 'x' }), messageKey({ id: 'slow', title: 'y' }));
});

test('errors and messages with buttons stay; others expire', () => {
  assert.equal(expiryMs({ level: 'error' }), null);
  assert.equal(expiryMs({ level: 'warn', actions: [{}] }), null);
  assert.equal(expiryMs({ level: 'warn' }), 20_000);
  assert.equal(expiryMs({ level: 'info' }), 7000);
  assert.equal(expiryMs({ level: 'success' }), 7000);
  assert.equal(expiryMs({ level: 'error', sticky: 15_000 }), 15_000);
  assert.equal(expiryMs({ level: 'info', sticky: true }), null);
  assert.equal(expiryMs({ level: 'error', sticky: false }), 7000);
});

test('overflow takes down the oldest successes and infos first, then warnings, never errors', () => {
  const shown = [
    { key: 'e1', level: 'error' }, { key: 'i1', level: 'info' }, { key: 'w1', level: 'warn' },
    { key: 's1', level: 'success' }, { key: 'w2', level: 'warn' }, { key: 'e2', level: 'error' },
  ]; // newest first
  assert.deepEqual(overflow(shown, 4), ['s1', 'i1']);
  assert.deepEqual(overflow(shown, 3), ['s1', 'i1', 'w2']);
  assert.deepEqual(overflow(shown, 1), ['s1', 'i1', 'w2', 'w1']);
  assert.deepEqual(overflow(shown.slice(0, 2), 4), []);
});

test('the log groups repeats, keeps new words under the same id apart, and has a limit', () => {
  const log = new MessageLog(3);
  assert.equal(log.add({ level: 'warn', title: 'No class 9' }, 1).repeat, false);
  const again = log.add({ level: 'warn', title: 'No class 9' }, 2);
  assert.equal(again.repeat, true);
  assert.equal(again.entry.count, 2);
  log.add({ level: 'warn', title: 'No class 9' }, 3);
  assert.equal(log.entries.length, 1);
  assert.deepEqual([log.entries[0].count, log.entries[0].first, log.entries[0].last], [3, 1, 3]);
  log.add({ id: 'slow', title: 'Still working', text: '45 s' }, 4);
  assert.equal(log.add({ id: 'slow', title: 'Still working', text: '90 s' }, 5).repeat, false);
  assert.deepEqual(log.list().map((e) => e.text), ['90 s', '45 s', '']);
  log.add({ title: 'four' }, 6);
  assert.equal(log.entries.length, 3);
  assert.equal(log.unseen, 6);
});
