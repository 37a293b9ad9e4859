// @ts-check
// The one table of requests between the page (engine.js) and the worker that owns the wasm engine
// (worker.js): each request's name, payload and result types, when it counts as slow or hung, and which
// ArrayBuffers travel with it (moved, never copied) in each direction. Both sides read this table; no
// request name is written anywhere else as a bare string.
//
//   page → worker  {id, type, payload}                  one request
//   worker → page  {id, ok: true, result}               its answer
//                  {id, ok: false, error: {message, name, fatal}}
//                  {event: 'fatal', message}           the module trapped: the worker is unusable

/** @typedef {{x0: number, y0: number, x1: number, y1: number, label: number}} PixelBox a box in image pixels */
/** @typedef {{rgba: ArrayBuffer, width: number, height: number, boxes: PixelBox[]}} Sample one labelled image */
/** @typedef {{classNames: string[], train: Sample[], val: Sample[]}} TrainingData */
/** @typedef {{weights: ArrayBuffer, config: string | null, name: string}} ModelBytes a checkpoint and its config.json */

/**
 * @typedef {object} DetectOptions
 * @property {number} [threshold] minimum score (the page filters again on its slider)
 * @property {number} [topK] detections kept, best first
 * @property {number} [shortestEdge] resize rule of the model: shortest edge, longest ≤ 1333/800 of it
 * @property {boolean} [attention] keep the last decoder layer's attention for `attention` requests
 * @property {boolean} [profile] time each backbone stage, the encoder and the decoder
 */

/**
 * @typedef {object} Detection
 * @property {number} label
 * @property {string} labelName
 * @property {number} score
 * @property {[number, number, number, number]} box x0, y0, x1, y1 in frame pixels
 * @property {number} query
 * @property {[number, number]} [referencePoint] the query's reference point s in frame pixels (none for DETR)
 */

/**
 * @typedef {object} DetectResult
 * @property {Detection[]} detections
 * @property {number} width
 * @property {number} height
 * @property {number} inputWidth
 * @property {number} inputHeight
 * @property {number} preprocessMs
 * @property {number} networkMs
 * @property {number} postprocessMs
 * @property {{name: string, ms: number}[] | null} [profile]
 * @property {number} frameId the request's frame id, echoed
 * @property {number} workerMs
 * @property {ArrayBuffer} rgba the frame's pixels, handed back
 */

/**
 * @typedef {object} ModelInfo
 * @property {string} name
 * @property {string} format
 * @property {string} architecture "Conditional DETR" or "DETR"
 * @property {string[]} labels
 * @property {number} numQueries
 * @property {number} dModel
 * @property {number} heads
 * @property {number} encoderLayers
 * @property {number} decoderLayers
 * @property {string} backbone
 * @property {number} parameters
 */

/**
 * @typedef {object} AttentionMaps per-head maps of `heads × featureHeight × featureWidth`
 * @property {number} heads
 * @property {number} featureWidth
 * @property {number} featureHeight
 * @property {number} validWidth
 * @property {number} validHeight
 * @property {Float32Array | null} spatial null for DETR
 * @property {Float32Array | null} content null for DETR
 * @property {Float32Array} combined
 */

/**
 * @typedef {object} TrainOptions
 * @property {number} lr
 * @property {number} lrBackbone
 * @property {number} batchSize
 * @property {number} maxSize
 * @property {boolean} augment
 * @property {boolean} freezeBackbone
 * @property {boolean} fastMode
 * @property {number} [fastScales]
 * @property {number} [dropout]
 * @property {number} seed
 */

/**
 * @typedef {object} SessionSummary
 * @property {boolean} newHead
 * @property {string[]} labels
 * @property {number} trainImages
 * @property {number} valImages
 * @property {number} stepsPerEpoch
 * @property {string | null} [fastMode]
 */

/**
 * @typedef {object} StepMetrics one optimisation step (loss terms as `lossCe`, `lossBbox`, …)
 * @property {number} step
 * @property {number} epoch
 * @property {number} loss
 * @property {number} lr
 * @property {number} lrBackbone
 * @property {number} gradNorm
 * @property {number} numBoxes
 * @property {boolean} epochDone
 * @property {number} stepMs
 */

/** @typedef {{step: number, epoch: number}} Position where a training session stands */

/** @typedef {{label: number, bbox: number[], score: number}} Prediction a counted detection of a validation image (pixels of the validated copy) */
/** @typedef {{imageId: number, missed: number, falsePositives: number, confused: number, numGt: number, numDet: number}} ImageErrors */

/**
 * @typedef {object} Requests name → payload and result of each request
 * @property {{payload: {preferGpu: boolean}, result: {backend: 'webgpu' | 'cpu', fallbackReason: string | null, bufferLimit: number | null, initMs: number}}} init
 * @property {{payload: ModelBytes, result: ModelInfo}} loadModel
 * @property {{payload: {frameId: number, rgba: ArrayBuffer, width: number, height: number, options: DetectOptions}, result: DetectResult}} detect
 * @property {{payload: {query: number}, result: AttentionMaps}} attention
 * @property {{payload: {files: {name: string, text: string}[], images: {name: string, width: number, height: number}[]}, result: {classNames: string[], samples: {image: string, boxes: PixelBox[]}[], report: {summary: string, messages: object[]}}}} parseDataset
 * @property {{payload: {dataset: TrainingData, options: TrainOptions, start?: ModelBytes | null}, result: SessionSummary}} startTraining
 * @property {{payload: {}, result: StepMetrics}} trainStep
 * @property {{payload: {}, result: Record<string, any>}} evaluate
 * @property {{payload: {boxes: {x0: number, y0: number, x1: number, y1: number, label: number}[], detections: Prediction[]}, result: ImageErrors}} imageErrors
 * @property {{payload: {}, result: string[]}} useTrainedModel
 * @property {{payload: {}, result: {safetensors: Uint8Array, config: string}}} exportModel
 * @property {{payload: {}, result: {model: Uint8Array, optimizer: Uint8Array} & Position}} snapshotTraining
 * @property {{payload: {model: ArrayBuffer, optimizer: ArrayBuffer}, result: Position}} restoreTraining
 * @property {{payload: {}, result: never}} simulateCrash
 */

/** @typedef {keyof Requests} RequestName */

/**
 * @typedef {object} RequestSpec
 * @property {number} slowMs after this the page says the request is slow and offers a restart
 * @property {number} hungMs after this the worker is replaced (a trapped wasm call never settles)
 * @property {(payload: any) => ArrayBuffer[]} send the payload's buffers moved to the worker
 * @property {(result: any) => ArrayBuffer[]} answer the result's buffers moved back to the page
 * @property {boolean} [beforeEngine] answered before the engine exists
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const none = () => [];
/** @param {{buffer: ArrayBufferLike} | null | undefined} a @returns {ArrayBuffer[]} */
const bufferOf = (a) => (a ? [/** @type {ArrayBuffer} */ (a.buffer)] : []);

// A big model's first frame on a software GPU (SwiftShader) takes minutes, so only the hard limit ends
// anything on its own.
/** @type {Record<RequestName, RequestSpec>} */
export const REQUESTS = {
  init: { slowMs: 1 * MINUTE, hungMs: 20 * MINUTE, send: none, answer: none, beforeEngine: true },
  loadModel: { slowMs: 2 * MINUTE, hungMs: 20 * MINUTE, send: (p) => [p.weights], answer: none },
  detect: { slowMs: 45 * SECOND, hungMs: 20 * MINUTE, send: (p) => [p.rgba], answer: (r) => [r.rgba] },
  attention: { slowMs: 45 * SECOND, hungMs: 20 * MINUTE, send: none, answer: (r) => [r.spatial, r.content, r.combined].flatMap(bufferOf) },
  parseDataset: { slowMs: 1 * MINUTE, hungMs: 20 * MINUTE, send: none, answer: none, beforeEngine: true },
  startTraining: {
    slowMs: 1 * MINUTE,
    hungMs: 20 * MINUTE,
    send: (p) => [...p.dataset.train, ...p.dataset.val].map((s) => s.rgba).concat(p.start ? [p.start.weights] : []),
    answer: none,
  },
  trainStep: { slowMs: 4 * MINUTE, hungMs: 30 * MINUTE, send: none, answer: none },
  evaluate: { slowMs: 10 * MINUTE, hungMs: 60 * MINUTE, send: none, answer: none },
  imageErrors: { slowMs: 30 * SECOND, hungMs: 10 * MINUTE, send: none, answer: none },
  useTrainedModel: { slowMs: 1 * MINUTE, hungMs: 20 * MINUTE, send: none, answer: none },
  exportModel: { slowMs: 2 * MINUTE, hungMs: 20 * MINUTE, send: none, answer: (r) => bufferOf(r.safetensors) },
  snapshotTraining: { slowMs: 2 * MINUTE, hungMs: 20 * MINUTE, send: none, answer: (r) => [r.model, r.optimizer].flatMap(bufferOf) },
  restoreTraining: { slowMs: 1 * MINUTE, hungMs: 20 * MINUTE, send: (p) => [p.model, p.optimizer], answer: none },
  simulateCrash: { slowMs: 1 * MINUTE, hungMs: 20 * MINUTE, send: none, answer: none },
};

/**
 * Whether an engine error means the engine cannot go on, and why: `'gpu'` when the WebGPU device is gone
 * (a lost device, or wgpu's "device is poisoned" once the browser's GPU process died), `'crash'` when the
 * wasm module trapped, else null (an ordinary error the page shows).
 * @param {string} message
 * @returns {'gpu' | 'crash' | null}
 */
export function fatalKind(message) {
  if (/device (was |is )?(lost|poisoned)|DeviceLost|external Instance reference no longer exists/i.test(message)) return 'gpu';
  if (/unreachable executed|memory access out of bounds|recursive use of an object/i.test(message)) return 'crash';
  return null;
}

/**
 * The table's entry of a request; throws a TypeError naming an unknown one.
 * @param {string} type
 * @returns {RequestSpec}
 */
export function requestSpec(type) {
  if (!Object.hasOwn(REQUESTS, type)) throw new TypeError(`unknown engine request “${type}” (known: ${Object.keys(REQUESTS).join(', ')})`);
  return REQUESTS[/** @type {RequestName} */ (type)];
}

/**
 * The distinct ArrayBuffers of a list: a buffer listed twice (two samples sharing one) would make
 * `postMessage` throw a DataCloneError.
 * @param {unknown[]} buffers
 * @returns {ArrayBuffer[]}
 */
export function transferable(buffers) {
  return [...new Set(buffers.filter((b) => b instanceof ArrayBuffer))];
}
