// node --test tests/www/ — the webcam's FPS readout (www/fps.js).
import test from 'node:test';
import assert from 'node:assert/strict';
import { nextFps, FPS_SMOOTHING } from '../../www/fps.js';

test('the first interval sets the readout; later ones move it by the smoothing weight', () => {
  assert.equal(nextFps(0, 100), 10);
  assert.equal(nextFps(10, 50), (1 - FPS_SMOOTHING) * 10 + FPS_SMOOTHING * 20);
  let fps = 0;
  for (let i = 0; i < 200; i++) fps = nextFps(fps, 40);
  assert.ok(Math.abs(fps - 25) < 1e-9, `a steady 40 ms converges to 25 fps, got ${fps}`);
});

test('a zero, negative or non-finite interval leaves the readout as it was', () => {
  for (const dt of [0, -5, NaN, Infinity]) assert.equal(nextFps(12, dt), 12, String(dt));
});
