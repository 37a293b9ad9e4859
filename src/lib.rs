//! Conditional DETR (Meng et al., "Conditional DETR for Fast Training Convergence", ICCV 2021) in Rust on
//! Burn: the model, checkpoint loading (Hugging Face and official formats), pre- and post-processing,
//! the set-prediction loss, a platform-free training step and COCO evaluation. The same library compiles
//! to WebAssembly (WebGPU or CPU) for the browser front end in `www/`; platform code lives in `web.rs`
//! (wasm-bindgen) and the `cdetr` binary.
//!
//! Layout, following the official repository: [`model`] (backbone, position encoding, transformer,
//! attention, heads), [`matcher`], [`criterion`], [`postprocess`], [`box_ops`]; around them
//! [`config`], [`weights`], [`preprocess`], [`data`], [`train`], [`eval`] and [`draw`].

pub mod box_ops;
pub mod config;
pub mod criterion;
pub mod data;
pub mod detector;
pub mod draw;
pub mod eval;
pub mod evaluate;
pub mod feature_cache;
pub mod kernels;
pub mod labels;
pub mod matcher;
pub mod memory;
pub mod model;
pub mod optim;
pub mod plot;
pub mod postprocess;
pub mod preprocess;
pub mod readback;
pub mod results;
pub mod session;
pub mod train;
#[cfg(target_family = "wasm")]
pub mod web;
pub mod weights;

pub use config::ConditionalDetrConfig;
pub use model::{ConditionalDetr, DetrOutput, ForwardOptions};
