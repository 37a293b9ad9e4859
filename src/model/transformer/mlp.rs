//! The official `MLP`: linear layers with ReLU between them (the reference-point head, `query_scale` and
//! the box head).

use burn::config::Config;
use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::model::attention::xavier_linear;

/// A stack of linear layers with ReLU between them (official `MLP`).
#[derive(Module, Debug)]
pub struct Mlp {
    pub layers: Vec<Linear>,
}

/// Configuration of an [`Mlp`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    pub d_input: usize,
    pub d_hidden: usize,
    pub d_output: usize,
    pub num_layers: usize,
}

impl MlpConfig {
    pub fn init(&self, device: &Device) -> Mlp {
        let layers = (0..self.num_layers)
            .map(|i| {
                let d_in = if i == 0 { self.d_input } else { self.d_hidden };
                let d_out = if i + 1 == self.num_layers { self.d_output } else { self.d_hidden };
                xavier_linear(d_in, d_out, device)
            })
            .collect();
        Mlp { layers }
    }
}

impl Mlp {
    /// # Shapes
    /// - x: `[..., d_input]` → `[..., d_output]`
    pub fn forward<const D: usize>(&self, mut x: Tensor<D>) -> Tensor<D> {
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i + 1 < n {
                x = relu(x);
            }
        }
        x
    }
}
