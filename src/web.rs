//! The WebAssembly API (wasm-bindgen) that `www/worker.js` drives: one [`Engine`] per worker, owning the
//! Burn device (WebGPU when an adapter exists, otherwise the Flex CPU backend), the detection model, the
//! last frame's attention maps and a fine-tuning session.
//!
//! Every entry point returns `Result<_, JsError>` with a message meant for the user; results cross as
//! JS objects (serde-wasm-bindgen) and `Float32Array`s, never JSON strings. All reads from the device are
//! asynchronous (`into_data_async`), as WebGPU requires.

use burn::tensor::Device;
use js_sys::{Float32Array, Object, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::data::BoxAnnotation;
use crate::data::upload::{UploadedImage, dataset_from_uploads};
use crate::detector::{DetectOptions, Frame, LastAttention, LoadedModel, attention_maps, detect};
use crate::memory::{Limits, WASM_HEAP_BYTES};
use crate::preprocess::rgba_to_rgb;
use crate::session::{LabeledImage, Prediction, SessionDataset, SessionOptions, SessionStart, TrainingSession};
use crate::train::TrainingSnapshot;
use crate::weights::{collect_hf_tensors, write_safetensors};

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Serializes a result for JS with every object key in camelCase (`label_name` → `labelName`,
/// map keys such as `loss_ce` → `lossCe`): the library types stay snake_case for the CLI JSON and
/// COCO, and this is the one place the page's naming is applied. The keys are renamed on the JS
/// value itself, so numbers (NaN included) cross unchanged; typed arrays set afterwards are untouched.
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    fn camel(key: &str) -> String {
        let mut out = String::with_capacity(key.len());
        let mut upper = false;
        for c in key.chars() {
            if c == '_' && !out.is_empty() {
                upper = true;
            } else if upper {
                out.extend(c.to_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    }
    fn rename(value: JsValue, plain: &JsValue) -> JsValue {
        if js_sys::Array::is_array(&value) {
            let array: js_sys::Array = value.unchecked_into();
            for i in 0..array.length() {
                array.set(i, rename(array.get(i), plain));
            }
            return array.into();
        }
        if !value.is_object() || JsValue::from(Object::get_prototype_of(&value)) != *plain {
            return value;
        }
        let out = Object::new();
        for entry in Object::entries(value.unchecked_ref()).iter() {
            let entry: js_sys::Array = entry.unchecked_into();
            let key = entry.get(0).as_string().unwrap_or_default();
            set(&out, &camel(&key), rename(entry.get(1), plain));
        }
        out.into()
    }
    let serializer = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    let value = value.serialize(&serializer).map_err(js_err)?;
    Ok(rename(value, &Object::get_prototype_of(&Object::new()).into()))
}

fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

/// Parses dropped annotation files against the dropped images.
///
/// `files`: `[{name, text}]` (COCO .json, VOC .xml, YOLO .txt + classes.txt/obj.names/data.yaml);
/// `images`: `[{name, width, height}]`. Returns `{classNames, samples: [{image, boxes: [{x0, y0, x1, y1,
/// label}]}], report: {summary, messages}}`; a malformed file is an error naming the file and line.
#[wasm_bindgen(js_name = parseDataset)]
pub fn parse_dataset(files: JsValue, images: JsValue) -> Result<JsValue, JsError> {
    #[derive(Deserialize)]
    struct File {
        name: String,
        text: String,
    }
    #[derive(Deserialize)]
    struct Image {
        name: String,
        width: u32,
        height: u32,
    }
    #[derive(Serialize)]
    struct OutBox {
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
        label: usize,
    }
    #[derive(Serialize)]
    struct OutSample {
        image: String,
        boxes: Vec<OutBox>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out {
        class_names: Vec<String>,
        samples: Vec<OutSample>,
        report: serde_json::Value,
    }
    let files: Vec<File> =
        serde_wasm_bindgen::from_value(files).map_err(|e| js_err(format!("invalid file list: {e}")))?;
    let images: Vec<Image> =
        serde_wasm_bindgen::from_value(images).map_err(|e| js_err(format!("invalid image list: {e}")))?;
    let files: Vec<(String, String)> = files.into_iter().map(|f| (f.name, f.text)).collect();
    let images: Vec<UploadedImage> =
        images.into_iter().map(|i| UploadedImage { name: i.name, width: i.width, height: i.height }).collect();
    let dataset = dataset_from_uploads(&files, &images).map_err(js_err)?;
    let out = Out {
        class_names: dataset.class_names.clone(),
        report: serde_json::json!({"summary": dataset.summary(), "messages": dataset.report.messages}),
        samples: dataset
            .samples
            .into_iter()
            .map(|s| OutSample {
                image: s.image,
                boxes: s
                    .annotations
                    .into_iter()
                    .map(|a| OutBox { x0: a.bbox[0], y0: a.bbox[1], x1: a.bbox[2], y1: a.bbox[3], label: a.class_id })
                    .collect(),
            })
            .collect(),
    };
    to_js(&out)
}

/// A checkpoint as the page sends it: `{weights: Uint8Array, config: string | null, name}`.
#[derive(Deserialize)]
struct ModelBytes {
    weights: serde_bytes_compat::Bytes,
    config: Option<String>,
    name: String,
}

impl ModelBytes {
    fn load(self, device: &Device) -> Result<LoadedModel, JsError> {
        LoadedModel::from_bytes(self.weights.0, self.config.as_deref(), &self.name, device).map_err(js_err)
    }
}

/// One labeled image sent by the page.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsSample {
    rgba: serde_bytes_compat::Bytes,
    width: u32,
    height: u32,
    boxes: Vec<JsBox>,
}

#[derive(Deserialize)]
struct JsBox {
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
    label: usize,
}

/// Detection and fine-tuning engine of one page (lives in a Web Worker).
#[wasm_bindgen]
pub struct Engine {
    device: Device,
    backend: String,
    fallback_reason: Option<String>,
    model: Option<LoadedModel>,
    attention: Option<LastAttention>,
    session: Option<TrainingSession>,
    /// The WebGPU adapter's largest storage buffer (set by the worker), in bytes.
    buffer_limit: Option<u64>,
}

#[wasm_bindgen]
impl Engine {
    /// Creates the engine: WebGPU when `prefer_gpu` and the browser gives an adapter, else the CPU backend.
    pub async fn create(prefer_gpu: bool) -> Result<Engine, JsError> {
        let (device, backend, fallback_reason) = if prefer_gpu {
            match Device::wgpu_options().init_async().await {
                Ok(device) => (device, "webgpu".to_string(), None),
                Err(e) => {
                    (Device::flex(), "cpu".to_string(), Some(format!("WebGPU is unavailable ({e}); using the CPU")))
                }
            }
        } else {
            (Device::flex(), "cpu".to_string(), Some("CPU backend requested".to_string()))
        };
        Ok(Engine { device, backend, fallback_reason, model: None, attention: None, session: None, buffer_limit: None })
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Why the CPU backend is in use, if it is.
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.fallback_reason.clone()
    }

    /// The WebGPU adapter's `maxStorageBufferBindingSize` (the worker reads it from `navigator.gpu`), for
    /// the memory checks before detection and fine-tuning.
    #[wasm_bindgen(js_name = setBufferLimit)]
    pub fn set_buffer_limit(&mut self, bytes: f64) {
        self.buffer_limit = (bytes.is_finite() && bytes > 0.0).then_some(bytes as u64);
    }

    /// What this engine may use: the WebAssembly heap on the CPU backend (where the activations live), the
    /// adapter's buffer limit on WebGPU.
    fn limits(&self) -> Limits {
        let cpu = self.backend == "cpu";
        Limits { total_bytes: cpu.then_some(WASM_HEAP_BYTES), buffer_bytes: if cpu { None } else { self.buffer_limit } }
    }

    /// Loads a checkpoint (HF safetensors, official-name safetensors, or Burnpack) with an optional
    /// `config.json`; returns the model's description.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(
        &mut self,
        weights: Vec<u8>,
        config_json: Option<String>,
        name: String,
    ) -> Result<JsValue, JsError> {
        let loaded =
            ModelBytes { weights: serde_bytes_compat::Bytes(weights), config: config_json, name }.load(&self.device)?;
        let info = loaded.info();
        self.model = Some(loaded);
        self.attention = None;
        to_js(&info)
    }

    /// Detects objects in an RGBA frame; `options`: `{threshold, topK, shortestEdge, longestEdge, attention,
    /// profile}`.
    pub async fn detect(
        &mut self,
        rgba: Vec<u8>,
        width: u32,
        height: u32,
        options: JsValue,
    ) -> Result<JsValue, JsError> {
        let options: DetectOptions = if options.is_undefined() || options.is_null() {
            DetectOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(js_err)?
        };
        let loaded = self.model.as_ref().ok_or_else(|| js_err("no model is loaded"))?;
        let frame = Frame { rgba: &rgba, width, height };
        let (result, attention) = detect(loaded, frame, &options, self.limits(), &now).await.map_err(js_err)?;
        self.attention = attention;
        to_js(&result)
    }

    /// Per-head cross-attention maps of the last decoder layer for one query of the last frame detected
    /// with `attention: true`: `{heads, featureWidth, featureHeight, validWidth, validHeight, spatial,
    /// content, combined}` where each map is a `Float32Array` of `heads × featureHeight × featureWidth`;
    /// `spatial` and `content` are `null` for DETR, which has no such split.
    pub async fn attention(&self, query: usize) -> Result<JsValue, JsError> {
        let maps = attention_maps(self.attention.as_ref(), query).await.map_err(js_err)?;
        let out = Object::new();
        let array = |values: &Option<Vec<f32>>| match values {
            Some(v) => JsValue::from(Float32Array::from(v.as_slice())),
            None => JsValue::NULL,
        };
        set(&out, "spatial", array(&maps.spatial));
        set(&out, "content", array(&maps.content));
        set(&out, "combined", Float32Array::from(maps.combined.as_slice()));
        set(&out, "heads", maps.heads as u32);
        set(&out, "featureWidth", maps.feature_width as u32);
        set(&out, "featureHeight", maps.feature_height as u32);
        set(&out, "validWidth", maps.valid_width as u32);
        set(&out, "validHeight", maps.valid_height as u32);
        Ok(out.into())
    }

    /// Prepares fine-tuning on labeled images, from the loaded model or from `start`.
    ///
    /// `dataset`: `{classNames: string[], train: Sample[], val: Sample[]}` with
    /// `Sample = {rgba: Uint8Array, width, height, boxes: [{x0, y0, x1, y1, label}]}` (pixels);
    /// `options`: `{lr, lrBackbone, batchSize, maxSize, augment, freezeBackbone, fastMode, fastScales,
    /// dropout, seed}`; `start` (optional): `{weights: Uint8Array, config: string | null, name}`, other
    /// starting weights (a saved fine-tuned model) that do not replace the detection model. Keeps the class
    /// head when every class name is one of the model's, else makes a new one.
    #[wasm_bindgen(js_name = startTraining)]
    pub fn start_training(&mut self, dataset: JsValue, options: JsValue, start: JsValue) -> Result<JsValue, JsError> {
        let dataset = session_dataset(dataset)?;
        let options: SessionOptions = if options.is_undefined() || options.is_null() {
            SessionOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(js_err)?
        };
        let limits = self.limits();
        let from_bytes;
        let start_from = if start.is_undefined() || start.is_null() {
            self.model.as_ref().ok_or_else(|| js_err("load a model before fine-tuning"))?
        } else {
            let start: ModelBytes =
                serde_wasm_bindgen::from_value(start).map_err(|e| js_err(format!("invalid starting weights: {e}")))?;
            from_bytes = start.load(&self.device)?;
            &from_bytes
        };
        let start = SessionStart {
            model: start_from.model.model.clone(),
            config: start_from.config.clone(),
            size: start_from.size(),
            limits,
        };
        let (session, summary) = TrainingSession::new(start, dataset, &options, &self.device).map_err(js_err)?;
        self.session = Some(session);
        to_js(&summary)
    }

    /// One optimisation step on the next batch; returns the step's metrics plus `epochDone`.
    #[wasm_bindgen(js_name = trainStep)]
    pub async fn train_step(&mut self) -> Result<JsValue, JsError> {
        let session = self.session.as_mut().ok_or_else(|| js_err("no fine-tuning session: start one first"))?;
        let (metrics, epoch_done) = session.step().await.map_err(js_err)?;
        let value = to_js(&metrics)?;
        let _ = Reflect::set(&value, &"epochDone".into(), &epoch_done.into());
        Ok(value)
    }

    /// COCO AP of the current fine-tuned model on the validation split, with the diagnostics of
    /// `cdetr eval --json`: `{ap, ap50, … (the twelve COCO numbers), classes: [{name, category_id,
    /// num_gt, ap, ap50, ap75, recall50, pr50}], confusionLabels: [...classes, "background"],
    /// confusion: {counts, …} (rows predicted, columns true; score 0.25, IoU 0.5), worst:
    /// [{image_id (index into the validation split), missed, false_positives, confused, …}]}`.
    pub async fn evaluate(&mut self) -> Result<JsValue, JsError> {
        let session = self.session.as_ref().ok_or_else(|| js_err("no fine-tuning session"))?;
        to_js(&session.evaluate().await.map_err(js_err)?)
    }

    /// One validation image's errors `{missed, falsePositives, confused, …}` after its labels changed:
    /// `{boxes: [{x0, y0, x1, y1, label}] (dataset classes, pixels of the validated copy), detections}` with
    /// the detections `evaluate` returned for it.
    #[wasm_bindgen(js_name = imageErrors)]
    pub fn image_errors(&self, request: JsValue) -> Result<JsValue, JsError> {
        #[derive(Deserialize)]
        struct Request {
            boxes: Vec<JsBox>,
            detections: Vec<Prediction>,
        }
        let session = self.session.as_ref().ok_or_else(|| js_err("no fine-tuning session"))?;
        let r: Request =
            serde_wasm_bindgen::from_value(request).map_err(|e| js_err(format!("invalid request: {e}")))?;
        let boxes: Vec<BoxAnnotation> =
            r.boxes.into_iter().map(|b| BoxAnnotation { class_id: b.label, bbox: [b.x0, b.y0, b.x1, b.y1] }).collect();
        to_js(&session.image_errors(&boxes, &r.detections).map_err(js_err)?)
    }

    /// Makes the fine-tuned model the one used for detection.
    #[wasm_bindgen(js_name = useTrainedModel)]
    pub fn use_trained_model(&mut self) -> Result<JsValue, JsError> {
        let session = self.session.as_ref().ok_or_else(|| js_err("no fine-tuning session"))?;
        let loaded = self.model.as_ref().ok_or_else(|| js_err("no model is loaded"))?;
        let name = format!("{} (fine-tuned)", loaded.name);
        self.model = Some(loaded.with_weights(session.inference_model(), session.config.clone(), name));
        self.attention = None;
        to_js(&session.config.labels())
    }

    /// The fine-tuned model (or the loaded one) as HF-compatible `{safetensors: Uint8Array, config: string}`.
    #[wasm_bindgen(js_name = exportModel)]
    pub async fn export_model(&self) -> Result<JsValue, JsError> {
        let (model, config) = match &self.session {
            Some(s) => (s.inference_model(), s.config.clone()),
            None => {
                let m = self.model.as_ref().ok_or_else(|| js_err("no model to export"))?;
                (m.model.model.clone(), m.config.clone())
            }
        };
        let tensors = collect_hf_tensors(&model).await.map_err(js_err)?;
        let bytes = write_safetensors(&tensors, Some(&config));
        let out = Object::new();
        set(&out, "safetensors", Uint8Array::from(bytes.as_slice()));
        set(&out, "config", config.to_json());
        Ok(out.into())
    }

    /// The fine-tuning state (weights with parameter ids, optimizer) to keep across reloads.
    #[wasm_bindgen(js_name = snapshotTraining)]
    pub async fn snapshot_training(&self) -> Result<JsValue, JsError> {
        let session = self.session.as_ref().ok_or_else(|| js_err("no fine-tuning session"))?;
        let snap = session.snapshot().await.map_err(js_err)?;
        let out = Object::new();
        set(&out, "model", Uint8Array::from(snap.model.as_slice()));
        set(&out, "optimizer", Uint8Array::from(snap.optimizer.as_slice()));
        set(&out, "step", session.trainer.step as u32);
        set(&out, "epoch", session.trainer.epoch as u32);
        Ok(out.into())
    }

    /// Restores a [`snapshot_training`](Self::snapshot_training) into the current session (same dataset classes).
    #[wasm_bindgen(js_name = restoreTraining)]
    pub fn restore_training(&mut self, model: Vec<u8>, optimizer: Vec<u8>) -> Result<JsValue, JsError> {
        let session = self.session.as_mut().ok_or_else(|| js_err("start the session before restoring it"))?;
        session.restore(&TrainingSnapshot { model, optimizer }).map_err(js_err)?;
        to_js(&serde_json::json!({"step": session.trainer.step, "epoch": session.trainer.epoch}))
    }
}

/// The page's dataset `{classNames, train: Sample[], val: Sample[]}` as a [`SessionDataset`], each box
/// validated as a dataset file's would be (clipped to the image; empty boxes and unknown classes left out:
/// the page draws and checks its boxes, so this is a safety net).
fn session_dataset(dataset: JsValue) -> Result<SessionDataset, JsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct JsDataset {
        class_names: Vec<String>,
        train: Vec<JsSample>,
        #[serde(default)]
        val: Vec<JsSample>,
    }
    let dataset: JsDataset =
        serde_wasm_bindgen::from_value(dataset).map_err(|e| js_err(format!("invalid dataset: {e}")))?;
    let classes = dataset.class_names.len();
    let to_images = |samples: Vec<JsSample>| -> Result<Vec<LabeledImage>, JsError> {
        samples
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let image = rgba_to_rgb(s.width, s.height, &s.rgba.0).map_err(|e| js_err(format!("image {i}: {e}")))?;
                let mut report = crate::data::ValidationReport::default();
                let boxes = s
                    .boxes
                    .into_iter()
                    .filter(|b| b.label < classes)
                    .filter_map(|b| {
                        let bbox = crate::data::validate_box(
                            [b.x0, b.y0, b.x1, b.y1],
                            s.width,
                            s.height,
                            "page",
                            "box",
                            &mut report,
                        )?;
                        Some(BoxAnnotation { class_id: b.label, bbox })
                    })
                    .collect();
                Ok(LabeledImage { image, boxes })
            })
            .collect()
    };
    Ok(SessionDataset {
        train: to_images(dataset.train)?,
        val: to_images(dataset.val)?,
        class_names: dataset.class_names,
    })
}

/// Milliseconds from `performance.now()` (0 where there is none).
fn now() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| js_sys::Reflect::get(&p, &"now".into()).ok().map(|f| (p, f)))
        .and_then(|(p, f)| f.dyn_into::<js_sys::Function>().ok().and_then(|f| f.call0(&p).ok()))
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0)
}

/// `Uint8Array` → `Vec<u8>` for serde-wasm-bindgen.
mod serde_bytes_compat {
    use serde::{Deserialize, Deserializer};

    pub struct Bytes(pub Vec<u8>);

    impl<'de> Deserialize<'de> for Bytes {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a Uint8Array")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(v.to_vec()))
                }
                fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Bytes, E> {
                    Ok(Bytes(v))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
                    let mut out = Vec::new();
                    while let Some(b) = seq.next_element::<u8>()? {
                        out.push(b);
                    }
                    Ok(Bytes(out))
                }
            }
            d.deserialize_bytes(Visitor)
        }
    }
}
