//! The WebAssembly API (wasm-bindgen) that `www/worker.js` drives: one [`Engine`] per worker, owning the
//! Burn device (WebGPU when an adapter exists, otherwise the Flex CPU backend), the detection model, the
//! last frame's attention maps and a fine-tuning session.
//!
//! Every entry point returns `Result<_, JsError>` with a message meant for the user; results cross as
//! JS objects (serde-wasm-bindgen) and `Float32Array`s, never JSON strings. All reads from the device are
//! asynchronous (`into_data_async`), as WebGPU requires.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use js_sys::{Float32Array, Object, Reflect, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::ConditionalDetrConfig;
use crate::data::augment::TrainAugment;
use crate::data::upload::{UploadedImage, dataset_from_uploads};
use crate::data::{BoxAnnotation, Rng};
use crate::eval::{
    ClassMetrics, CocoMetrics, ConfusionOptions, Detection as EvalDetection, GroundTruth, ImageErrors,
    confusion_matrix, evaluate_detailed,
};
use crate::feature_cache::{FeatureCache, FeatureCacheConfig};
use crate::memory::{BackboneTraining, Limits, ModelSize, WASM_HEAP_BYTES};
use crate::model::backbone::ResNetConfig;
use crate::model::inference::{InferenceModel, PartTime};
use crate::model::mask::PixelMask;
use crate::model::{AttentionOutput, ForwardOptions};
use crate::postprocess::{Detection, PostProcessOptions, post_process, read_predictions};
use crate::preprocess::{ResizeMode, preprocess, rgba_to_rgb};
use crate::train::{
    Batches, LabelPlan, StepMetrics, TrainOptions, Trainer, TrainingSet, TrainingSnapshot, plan_labels,
};
use crate::weights::{backbone_config, collect_hf_tensors, load_model, read_checkpoint_bytes, write_safetensors};

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

/// What the page needs to know about a loaded model.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModelInfo {
    name: String,
    format: String,
    labels: Vec<String>,
    num_queries: usize,
    d_model: usize,
    heads: usize,
    encoder_layers: usize,
    decoder_layers: usize,
    backbone: String,
    parameters: usize,
}

/// Per-frame detection settings from the page.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DetectOptions {
    threshold: f32,
    top_k: usize,
    /// Shortest edge of the network input (0: the image as it is).
    shortest_edge: u32,
    longest_edge: u32,
    /// Keep the cross-attention maps of this frame for [`Engine::attention`].
    attention: bool,
    /// Time each backbone stage and the transformer (synchronising after each: a little slower).
    profile: bool,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self { threshold: 0.5, top_k: 100, shortest_edge: 800, longest_edge: 1333, attention: false, profile: false }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DetectResult {
    detections: Vec<Detection>,
    width: u32,
    height: u32,
    input_width: usize,
    input_height: usize,
    /// Milliseconds: pre-processing, network (incl. read-back), post-processing.
    preprocess_ms: f64,
    network_ms: f64,
    postprocess_ms: f64,
    /// With `profile`: milliseconds per part of the network (`stem`, `layer1` … `layer4`,
    /// `transformer + heads`).
    profile: Option<Vec<PartTime>>,
}

struct LoadedModel {
    model: InferenceModel,
    config: ConditionalDetrConfig,
    name: String,
    /// The backbone layout and the parameter count, for the memory checks.
    backbone: ResNetConfig,
    params: usize,
}

impl LoadedModel {
    fn size(&self) -> ModelSize<'_> {
        ModelSize { config: &self.config, backbone: &self.backbone, params: self.params }
    }
}

struct LastAttention {
    maps: AttentionOutput,
    /// Resized (unpadded) input size and padded input size, to map feature cells back to the frame.
    resized: (usize, usize),
    padded: (usize, usize),
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

/// Fine-tuning settings from the page.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct JsTrainOptions {
    lr: f64,
    lr_backbone: f64,
    batch_size: usize,
    /// Longest side of augmented images (the official recipe scaled down).
    max_size: u32,
    augment: bool,
    freeze_backbone: bool,
    /// Fast mode: a frozen backbone whose features are computed once per image (flip + `fastScales` sizes).
    fast_mode: bool,
    fast_scales: usize,
    dropout: f64,
    seed: u64,
}

impl Default for JsTrainOptions {
    fn default() -> Self {
        Self {
            lr: 1e-4,
            lr_backbone: 1e-5,
            batch_size: 2,
            max_size: 512,
            augment: true,
            freeze_backbone: false,
            fast_mode: false,
            fast_scales: 1,
            dropout: 0.1,
            seed: 0,
        }
    }
}

/// Training images whose backbone features are computed on the first step of a fast-mode session.
struct PendingCache {
    images: Vec<image::RgbImage>,
    boxes: Vec<Vec<BoxAnnotation>>,
    config: FeatureCacheConfig,
    seed: u64,
}

struct Session {
    trainer: Trainer,
    config: ConditionalDetrConfig,
    /// `None` until the fast mode's cache is built (`pending`).
    train: Option<Batches>,
    pending: Option<PendingCache>,
    val: Vec<(image::RgbImage, Vec<BoxAnnotation>)>,
    max_size: u32,
    /// Dataset class index → model class index.
    label_map: Vec<usize>,
}

/// Detection and fine-tuning engine of one page (lives in a Web Worker).
#[wasm_bindgen]
pub struct Engine {
    device: Device,
    backend: String,
    fallback_reason: Option<String>,
    model: Option<LoadedModel>,
    attention: Option<LastAttention>,
    session: Option<Session>,
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
        let checkpoint = read_checkpoint_bytes(weights, &name).map_err(js_err)?;
        let config = match config_json {
            Some(text) => ConditionalDetrConfig::from_json(&text, "config.json").map_err(js_err)?,
            None => checkpoint.config.clone().unwrap_or_default(),
        };
        let model = InferenceModel::new(load_model(&config, &checkpoint, &self.device).map_err(js_err)?);
        let backbone = backbone_config(&config, Some(&checkpoint)).map_err(js_err)?;
        let params = checkpoint.tensors.iter().map(|t| t.data.len()).sum();
        let info = ModelInfo {
            name: name.clone(),
            format: checkpoint.format.to_string(),
            labels: config.labels(),
            num_queries: config.num_queries,
            d_model: config.d_model,
            heads: config.decoder_attention_heads,
            encoder_layers: config.encoder_layers,
            decoder_layers: config.decoder_layers,
            backbone: config.backbone.clone(),
            parameters: params,
        };
        self.model = Some(LoadedModel { model, config, name, backbone, params });
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
        let t0 = now();
        let image = rgba_to_rgb(width, height, &rgba).map_err(js_err)?;
        let mode = if options.shortest_edge == 0 {
            ResizeMode::None
        } else {
            ResizeMode::Size {
                shortest_edge: options.shortest_edge,
                longest_edge: options.longest_edge.max(options.shortest_edge),
            }
        };
        let batch = preprocess(std::slice::from_ref(&image), mode);
        let pixel_values = Tensor::<4>::from_data(
            TensorData::new(batch.pixel_values, [1, 3, batch.height, batch.width]),
            &self.device,
        );
        let mask = PixelMask { batch: 1, height: batch.height, width: batch.width, data: batch.pixel_mask };
        loaded.size().check_detect(batch.height, batch.width, self.limits()).map_err(js_err)?;
        let t1 = now();
        let forward_options = ForwardOptions { aux: false, attention_maps: options.attention };
        let (output, profile) = if options.profile {
            let (output, parts) = loaded
                .model
                .forward_profiled(pixel_values, &mask, forward_options, &now)
                .await
                .map_err(|e| js_err(format!("the device failed: {e:?}")))?;
            (output, Some(parts))
        } else {
            (loaded.model.forward(pixel_values, &mask, forward_options), None)
        };
        let raw = read_predictions(&output).await.map_err(|e| js_err(format!("the device failed: {e:?}")))?;
        let t2 = now();
        let labels = loaded.config.labels();
        let detections = post_process(
            &raw,
            &[(height as usize, width as usize)],
            &labels,
            PostProcessOptions { threshold: options.threshold, top_k: options.top_k },
        )
        .pop()
        .unwrap_or_default();
        self.attention = output.attention.map(|maps| LastAttention {
            maps,
            resized: batch.image_sizes[0],
            padded: (batch.height, batch.width),
        });
        let t3 = now();
        to_js(&DetectResult {
            detections,
            width,
            height,
            input_width: batch.width,
            input_height: batch.height,
            preprocess_ms: t1 - t0,
            network_ms: t2 - t1,
            postprocess_ms: t3 - t2,
            profile,
        })
    }

    /// Per-head cross-attention maps of the last decoder layer for one query of the last frame detected
    /// with `attention: true`: `{heads, featureWidth, featureHeight, validWidth, validHeight, spatial,
    /// content, combined}` where each map is a `Float32Array` of `heads × featureHeight × featureWidth`;
    /// `spatial` and `content` are `null` for DETR, which has no such split.
    pub async fn attention(&self, query: usize) -> Result<JsValue, JsError> {
        let last = self
            .attention
            .as_ref()
            .ok_or_else(|| js_err("no attention maps: detect a frame with attention enabled first"))?;
        let [_, heads, nq, hw] = last.maps.maps.combined.dims();
        if query >= nq {
            return Err(js_err(format!("query {query} out of range (the model has {nq} queries)")));
        }
        let (fh, fw) = (last.maps.feature_height, last.maps.feature_width);
        let out = Object::new();
        let maps = &last.maps.maps;
        for (key, t) in
            [("spatial", maps.spatial.as_ref()), ("content", maps.content.as_ref()), ("combined", Some(&maps.combined))]
        {
            // DETR has no spatial/content split: those maps are `null`.
            let Some(t) = t else {
                set(&out, key, JsValue::NULL);
                continue;
            };
            let slice = t.clone().slice([0..1, 0..heads, query..query + 1, 0..hw]).reshape([heads * hw]);
            let data = slice.into_data_async().await.map_err(|e| js_err(format!("{e:?}")))?;
            let values = data.convert::<f32>().try_into_vec::<f32>().map_err(|e| js_err(format!("{e:?}")))?;
            set(&out, key, Float32Array::from(values.as_slice()));
        }
        set(&out, "heads", heads as u32);
        set(&out, "featureWidth", fw as u32);
        set(&out, "featureHeight", fh as u32);
        // Feature cells that cover the real image (the rest is padding).
        let valid = |resized: usize, padded: usize, cells: usize| (resized * cells).div_ceil(padded).min(cells) as u32;
        set(&out, "validWidth", valid(last.resized.1, last.padded.1, fw));
        set(&out, "validHeight", valid(last.resized.0, last.padded.0, fh));
        Ok(out.into())
    }

    /// Prepares fine-tuning of the loaded model on labeled images.
    ///
    /// `dataset`: `{classNames: string[], train: Sample[], val: Sample[]}` with
    /// `Sample = {rgba: Uint8Array, width, height, boxes: [{x0, y0, x1, y1, label}]}` (pixels);
    /// `options`: `{lr, lrBackbone, batchSize, maxSize, augment, freezeBackbone, dropout, seed}`.
    /// Keeps the class head when every class name is one of the model's, else makes a new one.
    #[wasm_bindgen(js_name = startTraining)]
    pub fn start_training(&mut self, dataset: JsValue, options: JsValue) -> Result<JsValue, JsError> {
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
        let options: JsTrainOptions = if options.is_undefined() {
            JsTrainOptions::default()
        } else {
            serde_wasm_bindgen::from_value(options).map_err(js_err)?
        };
        if dataset.class_names.is_empty() {
            return Err(js_err("the dataset has no classes"));
        }
        if dataset.train.is_empty() {
            return Err(js_err("the training split is empty: add labeled images first"));
        }
        let loaded = self.model.as_ref().ok_or_else(|| js_err("load a model before fine-tuning"))?;
        let to_samples = |samples: Vec<JsSample>| -> Result<Vec<(image::RgbImage, Vec<BoxAnnotation>)>, JsError> {
            samples
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let img =
                        rgba_to_rgb(s.width, s.height, &s.rgba.0).map_err(|e| js_err(format!("image {i}: {e}")))?;
                    // The same validation as a dataset file: clipped to the image, empty boxes and unknown
                    // classes left out (the page draws and checks its boxes, so this is a safety net).
                    let mut report = crate::data::ValidationReport::default();
                    let boxes = s
                        .boxes
                        .into_iter()
                        .filter(|b| b.label < dataset.class_names.len())
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
                    Ok((img, boxes))
                })
                .collect()
        };
        let train = to_samples(dataset.train)?;
        let val = to_samples(dataset.val)?;
        self.check_training_memory(loaded, &train, &options)?;

        let mut config = loaded.config.clone();
        let (label_map, new_head) = match plan_labels(&dataset.class_names, &config.labels()) {
            LabelPlan::Keep(map) => (map, false),
            LabelPlan::NewHead => ((0..dataset.class_names.len()).collect(), true),
        };
        if new_head {
            config.set_labels(&dataset.class_names);
        }
        let train_options = TrainOptions {
            lr: options.lr,
            lr_backbone: options.lr_backbone,
            freeze_backbone: options.freeze_backbone || options.fast_mode,
            dropout: options.dropout,
            ..TrainOptions::default()
        }
        .with_config_weights(&config);
        // The loaded weights, switched to autodiff (no copy through the host).
        let device = self.device.clone().autodiff();
        let mut model = loaded.model.model.clone().train();
        if new_head {
            model = model.with_new_class_head(config.num_labels(), &device);
        }
        let model = model.with_dropout(train_options.dropout_rates());
        let trainer = Trainer::new(model, train_options);
        let remap = |samples: Vec<(image::RgbImage, Vec<BoxAnnotation>)>| {
            samples
                .into_iter()
                .map(|(img, boxes)| {
                    (img, boxes.into_iter().map(|b| BoxAnnotation { class_id: label_map[b.class_id], ..b }).collect())
                })
                .collect::<Vec<_>>()
        };
        let train = remap(train);
        let val = remap(val);
        let augment = options.augment.then(|| TrainAugment::new(options.max_size));
        let resize = ResizeMode::Size { shortest_edge: options.max_size * 800 / 1333, longest_edge: options.max_size };
        let (images, boxes): (Vec<_>, Vec<_>) = train.into_iter().unzip();
        let batch_size = options.batch_size.max(1);
        let (train_images, steps_per_epoch) = (images.len(), images.len().div_ceil(batch_size));
        let (train, pending, fast_mode) = if options.fast_mode {
            let config = if options.augment {
                FeatureCacheConfig::for_max_size(options.max_size, options.fast_scales, batch_size)
            } else {
                FeatureCacheConfig { flip: false, resizes: vec![resize], batch_size, shuffle: true }
            };
            let description = config.describe();
            (None, Some(PendingCache { images, boxes, config, seed: options.seed }), Some(description))
        } else {
            let set = TrainingSet::new(images, boxes, batch_size, augment, resize, true, Rng::new(options.seed));
            (Some(Batches::Images(set)), None, None)
        };
        let summary = serde_json::json!({
            "newHead": new_head,
            "labels": config.labels(),
            "trainImages": train_images,
            "valImages": val.len(),
            "stepsPerEpoch": steps_per_epoch,
            "fastMode": fast_mode,
        });
        self.session = Some(Session { trainer, config, train, pending, val, max_size: options.max_size, label_map });
        to_js(&summary)
    }

    /// One optimisation step on the next batch; returns the step's metrics plus `epochDone`.
    #[wasm_bindgen(js_name = trainStep)]
    pub async fn train_step(&mut self) -> Result<JsValue, JsError> {
        let session = self.session.as_mut().ok_or_else(|| js_err("no fine-tuning session: start one first"))?;
        if let Some(p) = session.pending.take() {
            // Fast mode: the backbone runs once per image and view, here, on the first step.
            let backbone = InferenceModel::new(session.trainer.inference_model());
            let cache = FeatureCache::build(&backbone, &p.images, &p.boxes, p.config, Rng::new(p.seed), &self.device)
                .await
                .map_err(js_err)?;
            session.train = Some(Batches::Features(cache));
        }
        let batches = session.train.as_mut().ok_or_else(|| js_err("the training batches are missing"))?;
        let (metrics, epoch_done): (StepMetrics, bool) = batches.step(&mut session.trainer).await.map_err(js_err)?;
        if epoch_done {
            session.trainer.epoch += 1;
        }
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
        if session.val.is_empty() {
            return Err(js_err("the validation split is empty"));
        }
        let model = InferenceModel::new(session.trainer.inference_model());
        let labels = session.config.labels();
        let mode = ResizeMode::Size { shortest_edge: session.max_size * 800 / 1333, longest_edge: session.max_size };
        let mut gts = Vec::new();
        let mut dets = Vec::new();
        for (i, (img, boxes)) in session.val.iter().enumerate() {
            let batch = preprocess(std::slice::from_ref(img), mode);
            let pixel_values = Tensor::<4>::from_data(
                TensorData::new(batch.pixel_values, [1, 3, batch.height, batch.width]),
                &self.device,
            );
            let mask = PixelMask { batch: 1, height: batch.height, width: batch.width, data: batch.pixel_mask };
            let out = model.forward(pixel_values, &mask, ForwardOptions::default());
            let raw = read_predictions(&out).await.map_err(|e| js_err(format!("{e:?}")))?;
            let found = post_process(
                &raw,
                &[(img.height() as usize, img.width() as usize)],
                &labels,
                PostProcessOptions { threshold: 0.0, top_k: 100 },
            );
            for b in boxes {
                let [x0, y0, x1, y1] = b.bbox;
                gts.push(GroundTruth {
                    image_id: i as u64,
                    category_id: b.class_id as u64,
                    bbox: [x0 as f64, y0 as f64, (x1 - x0) as f64, (y1 - y0) as f64],
                    area: ((x1 - x0) * (y1 - y0)) as f64,
                    iscrowd: false,
                });
            }
            for d in found.into_iter().flatten() {
                let [x0, y0, x1, y1] = d.bbox;
                dets.push(EvalDetection {
                    image_id: i as u64,
                    category_id: d.label as u64,
                    bbox: [x0 as f64, y0 as f64, (x1 - x0) as f64, (y1 - y0) as f64],
                    score: d.score as f64,
                });
            }
        }
        let image_ids: Vec<u64> = (0..session.val.len() as u64).collect();
        let mut categories: Vec<u64> = session.label_map.iter().map(|&c| c as u64).collect();
        categories.sort_unstable();
        categories.dedup();
        let detailed = evaluate_detailed(&image_ids, &categories, &gts, &dets).map_err(js_err)?;
        let confusion =
            confusion_matrix(&image_ids, &categories, &gts, &dets, ConfusionOptions::default()).map_err(js_err)?;
        let name_of = |id: u64| labels.get(id as usize).cloned().unwrap_or_else(|| id.to_string());
        #[derive(Serialize)]
        struct NamedClass {
            name: String,
            #[serde(flatten)]
            metrics: ClassMetrics,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Report {
            #[serde(flatten)]
            stats: CocoMetrics,
            classes: Vec<NamedClass>,
            confusion_labels: Vec<String>,
            confusion: crate::eval::ConfusionMatrix,
            worst: Vec<ImageErrors>,
        }
        let report = Report {
            stats: detailed.summarize(),
            classes: detailed
                .per_class()
                .into_iter()
                .map(|m| NamedClass { name: name_of(m.category_id), metrics: m })
                .collect(),
            confusion_labels: confusion
                .category_ids
                .iter()
                .map(|&id| name_of(id))
                .chain(["background".into()])
                .collect(),
            worst: confusion.worst_images(),
            confusion,
        };
        to_js(&report)
    }

    /// Makes the fine-tuned model the one used for detection.
    #[wasm_bindgen(js_name = useTrainedModel)]
    pub fn use_trained_model(&mut self) -> Result<JsValue, JsError> {
        let session = self.session.as_ref().ok_or_else(|| js_err("no fine-tuning session"))?;
        let model = InferenceModel::new(session.trainer.inference_model());
        let loaded = self.model.as_ref().ok_or_else(|| js_err("no model is loaded"))?;
        let name = format!("{} (fine-tuned)", loaded.name);
        let (backbone, params) = (loaded.backbone.clone(), loaded.params);
        self.model = Some(LoadedModel { model, config: session.config.clone(), name, backbone, params });
        self.attention = None;
        to_js(&session.config.labels())
    }

    /// The fine-tuned model (or the loaded one) as HF-compatible `{safetensors: Uint8Array, config: string}`.
    #[wasm_bindgen(js_name = exportModel)]
    pub async fn export_model(&self) -> Result<JsValue, JsError> {
        let (model, config) = match &self.session {
            Some(s) => (s.trainer.inference_model(), s.config.clone()),
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
        let snap = session.trainer.snapshot(&session.config).await.map_err(js_err)?;
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
        session.trainer.restore(&TrainingSnapshot { model, optimizer }).map_err(js_err)?;
        to_js(&serde_json::json!({"step": session.trainer.step, "epoch": session.trainer.epoch}))
    }
}

impl Engine {
    /// Refuses, with what to change, a fine-tuning setting whose step would not fit ([`crate::memory`]): the
    /// largest training image scaled to the max size, the batch size, the backbone mode; in the fast mode the
    /// feature cache (each image and its flip at the largest scale) counts against the heap too.
    fn check_training_memory(
        &self,
        loaded: &LoadedModel,
        train: &[(image::RgbImage, Vec<BoxAnnotation>)],
        options: &JsTrainOptions,
    ) -> Result<(), JsError> {
        let max = options.max_size.max(1) as f64;
        let scaled = |img: &image::RgbImage| {
            let f = max / img.width().max(img.height()).max(1) as f64;
            ((img.height() as f64 * f).ceil() as usize, (img.width() as f64 * f).ceil() as usize)
        };
        let (height, width) =
            train.iter().map(|(img, _)| scaled(img)).fold((0, 0), |(h, w), (ih, iw)| (h.max(ih), w.max(iw)));
        let mode = if options.fast_mode {
            BackboneTraining::Cached
        } else if options.freeze_backbone {
            BackboneTraining::Frozen
        } else {
            BackboneTraining::Trained
        };
        let mut limits = self.limits();
        if options.fast_mode {
            let channels = 4 * loaded.backbone.widths[3];
            let stride = crate::memory::stage_strides(&loaded.backbone)[3] as usize;
            let views = 2 * options.fast_scales.max(1);
            let cache: usize = train
                .iter()
                .map(|(img, _)| {
                    let (h, w) = scaled(img);
                    views * channels * h.div_ceil(stride) * w.div_ceil(stride) * 4
                })
                .sum();
            limits.total_bytes = limits.total_bytes.map(|t| t.saturating_sub(cache as u64));
        }
        let batch = options.batch_size.max(1).min(train.len());
        loaded.size().check_train(height, width, batch, mode, limits).map_err(js_err)
    }
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
                    f.write_str("a Uint8Array of RGBA pixels")
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
