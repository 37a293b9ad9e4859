//! Device → host read-backs. Every read is asynchronous (`into_data_async`), as WebGPU requires (a
//! synchronous read would block the browser's event loop); the CLI drives the same futures with
//! `pollster`. One error type names what was being read.

use burn::tensor::Tensor;

/// A read-back that failed: the device was lost, ran out of memory, or returned data of another type.
#[derive(Debug, thiserror::Error)]
#[error("reading {what} back from the device failed: {message}")]
pub struct ReadbackError {
    /// What was being read (`"loss"`, a parameter name, `"predictions"`, …).
    pub what: String,
    pub message: String,
}

impl ReadbackError {
    pub fn new(what: &str, message: impl std::fmt::Debug) -> Self {
        Self { what: what.to_string(), message: format!("{message:?}") }
    }
}

/// Reads a tensor's values back to the host as `f32`, without blocking.
///
/// # Shapes
/// `values`: `[n]` → `n` values.
pub async fn read_floats(values: Tensor<1>, what: &str) -> Result<Vec<f32>, ReadbackError> {
    values
        .into_data_async()
        .await
        .map_err(|e| ReadbackError::new(what, e))?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| ReadbackError::new(what, e))
}
