// @ts-check
// The webcam's frames per second: an exponential moving average of the intervals between shown frames,
// so one slow frame moves the readout without making it jump. Pure, tested by tests/www/fps.test.mjs.

/** Weight of the newest frame in the average. */
export const FPS_SMOOTHING = 0.2;

/**
 * The readout after one more frame shown `intervalMs` after the previous one.
 * @param {number} fps the readout so far (0 before the second frame)
 * @param {number} intervalMs
 * @returns {number} the new readout; unchanged for a non-positive or non-finite interval
 */
export function nextFps(fps, intervalMs) {
  if (!(intervalMs > 0) || !Number.isFinite(intervalMs)) return fps;
  const now = 1000 / intervalMs;
  return fps > 0 ? (1 - FPS_SMOOTHING) * fps + FPS_SMOOTHING * now : now;
}
