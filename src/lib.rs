//! Conditional DETR (Meng et al., "Conditional DETR for Fast Training Convergence", ICCV 2021) in Rust on
//! Burn: the model, checkpoint loading (Hugging Face and official formats), pre- and post-processing,
//! the set-prediction loss and a platform-free training step. The same library compiles to WebAssembly
//! (WebGPU or CPU) for the browser front end in `www/`; platform code lives in `web.rs` and the `cdetr`
//! binary.

pub mod box_ops;
pub mod config;
pub mod labels;
pub mod model;
pub mod postprocess;
pub mod weights;

pub use config::ConditionalDetrConfig;
pub use model::{ConditionalDetr, DetrOutput, ForwardOptions};
pub mod preprocess;
pub mod draw;
pub mod criterion;
pub mod data;
pub mod matcher;
pub mod train;
