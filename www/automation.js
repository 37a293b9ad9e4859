// @ts-check
// The test / automation handle — `window.cdetrApp` (kept deliberately small):
//   ready         Promise resolved once the engine has started and the first model attempt has finished
//                 (loaded, or failed with a message on screen)
//   state         the live app state: engine {status, backend, fallbackReason, restarts, adapter},
//                 model {info, source, name, trained}, hub {status, loaded, total, error},
//                 detect {source, paused, result, selected}, dataset {images, classes}, training {...}
//   lastResult    the last detection result shown: {detections (all top-k, threshold 0), shown (after
//                 the score threshold and class filter), width, height, inputWidth, inputHeight,
//                 preprocessMs, networkMs, postprocessMs, roundTripMs, frameId}
//   bench         the latest benchmark results: {detect, train}
//   metrics       the fine-tuning metrics per step so far (loss, lossCe, lossBbox, lossGiou, lr, …)
//   events        notable events so far: [{t, type, detail}] (message, engine, model, crash, restart…)
//   waitForEvent(type, timeoutMs)   Promise of the next event of that type
//   simulateCrash()                 makes the worker fail like a trapped wasm module (tests recovery)
//   call(name, payload, options)    a worker request as the tabs make it

/**
 * @typedef {object} AutomationDeps
 * @property {Record<string, any>} state the app state (its parts are getters onto the modules that own them)
 * @property {import('./events.js').EventBus} events
 * @property {import('./engine-host.js').EngineHost} engine
 * @property {Promise<void>} ready
 * @property {() => object[]} metrics the fine-tuning metrics so far
 */

/** @param {AutomationDeps} deps */
export function exposeTestHandle({ state, events, engine, ready, metrics }) {
  /** @type {any} */ (window).cdetrApp = {
    ready,
    get state() { return state; },
    get lastResult() { return state.detect?.result ?? null; },
    get bench() { return state.bench ?? {}; },
    get metrics() { return metrics(); },
    events: events.log,
    /** @param {import('./events.js').EventName} type @param {number} [timeoutMs] */
    waitForEvent: (type, timeoutMs = 60_000) => events.next(type, timeoutMs),
    simulateCrash: () => engine.call('simulateCrash').catch(() => {}),
    /** A worker request as the tabs make it (tests ask the engine itself what it holds). */
    call: (/** @type {any} */ name, /** @type {any} */ payload, /** @type {any} */ options) => engine.call(name, payload, options),
  };
}
