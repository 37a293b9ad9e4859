//! AdamW (Loshchilov & Hutter; PyTorch `torch.optim.AdamW` semantics, as the official `main.py` uses it)
//! with per-parameter learning rates and an optimizer state that is saved and restored **asynchronously**.
//!
//! Burn's `ModuleOptimizer` reads its state back synchronously when serialised and restores it on the
//! default device, neither of which works in a browser on WebGPU; this optimizer keeps its moments as plain
//! device tensors, reads them with `into_data_async` and recreates them on the model's device.
//!
//! Update of a parameter `p` with gradient `g` at its step `t`:
//! `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `p ← p(1 − lr·wd) − lr · (m/(1−β₁ᵗ)) / (sqrt(v/(1−β₂ᵗ)) + ε)`.

use std::collections::{BTreeMap, HashMap};

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::store::{bridge, burn_pack};
use burn::tensor::{Device, Tensor, TensorData};

/// Moments of one parameter (flattened) and its step count.
#[derive(Clone)]
struct Moments {
    time: i32,
    m: Tensor<1>,
    v: Tensor<1>,
}

/// AdamW with state keyed by parameter id.
#[derive(Clone)]
pub struct AdamW {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    pub weight_decay: f32,
    states: HashMap<ParamId, Moments>,
}

/// Errors of [`AdamW::restore`].
#[derive(Debug, thiserror::Error)]
pub enum OptimStateError {
    #[error("corrupt optimizer state: {0}")]
    Corrupt(String),
}

impl AdamW {
    /// PyTorch's defaults (β 0.9/0.999, ε 1e-8) with the given weight decay.
    pub fn new(weight_decay: f32) -> Self {
        Self { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-8, weight_decay, states: HashMap::new() }
    }

    /// Updates every parameter of `module` that has a gradient in `grads`; `lr(id)` gives its learning rate.
    pub fn step<M: Module>(&mut self, module: M, grads: &mut GradientsParams, lr: impl Fn(ParamId) -> f64) -> M {
        module.map(&mut Stepper { optim: self, grads, lr: &lr })
    }

    /// Number of parameters with state.
    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    /// The state as a Burnpack, read back without blocking.
    pub async fn snapshot(&self) -> Result<Vec<u8>, OptimStateError> {
        let mut times = BTreeMap::new();
        let mut packs = Vec::with_capacity(2 * self.states.len());
        let mut ids: Vec<&ParamId> = self.states.keys().collect();
        ids.sort_by_key(|id| id.val());
        for id in ids {
            let s = &self.states[id];
            times.insert(id.val().to_string(), s.time);
            for (suffix, t) in [("m", &s.m), ("v", &s.v)] {
                let data = t.clone().into_data_async().await.map_err(|e| OptimStateError::Corrupt(format!("{e:?}")))?;
                packs.push(bridge::from_data(data, format!("{}.{suffix}", id.val()), Some(id.val())));
            }
        }
        let meta = serde_json::json!({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                                      "weight_decay": self.weight_decay, "time": times});
        burn_pack::Writer::new(packs)
            .with_metadata("adamw", &meta.to_string())
            .into_bytes()
            .map(|b| b.to_vec())
            .map_err(|e| OptimStateError::Corrupt(e.to_string()))
    }

    /// Replaces the state by a [`snapshot`](Self::snapshot), creating the moments on `device`.
    pub fn restore(&mut self, bytes: &[u8], device: &Device) -> Result<(), OptimStateError> {
        let corrupt = |m: String| OptimStateError::Corrupt(m);
        let reader = burn_pack::Reader::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.to_vec()))
            .map_err(|e| corrupt(e.to_string()))?;
        let meta: serde_json::Value = reader
            .metadata()
            .get("adamw")
            .and_then(|t| serde_json::from_str(t).ok())
            .ok_or_else(|| corrupt("no AdamW metadata".into()))?;
        let mut moments: HashMap<u64, (Option<Tensor<1>>, Option<Tensor<1>>)> = HashMap::new();
        for t in reader.into_tensors().map_err(|e| corrupt(e.to_string()))? {
            let name = t.name.clone();
            let (id, which) = name.split_once('.').ok_or_else(|| corrupt(format!("unexpected tensor {name}")))?;
            let id: u64 = id.parse().map_err(|_| corrupt(format!("unexpected tensor {name}")))?;
            let data: TensorData = bridge::into_data(t).map_err(|e| corrupt(e.to_string()))?;
            let n = data.num_elements();
            let tensor = Tensor::<1>::from_data(data.convert::<f32>(), device).reshape([n]);
            let entry = moments.entry(id).or_default();
            match which {
                "m" => entry.0 = Some(tensor),
                "v" => entry.1 = Some(tensor),
                _ => return Err(corrupt(format!("unexpected tensor {name}"))),
            }
        }
        let mut states = HashMap::new();
        for (id, (m, v)) in moments {
            let (Some(m), Some(v)) = (m, v) else {
                return Err(corrupt(format!("incomplete moments of parameter {id}")));
            };
            let time = meta["time"][id.to_string()].as_i64().unwrap_or(0) as i32;
            states.insert(ParamId::from(id), Moments { time, m, v });
        }
        self.states = states;
        Ok(())
    }
}

struct Stepper<'a, F: Fn(ParamId) -> f64> {
    optim: &'a mut AdamW,
    grads: &'a mut GradientsParams,
    lr: &'a F,
}

impl<F: Fn(ParamId) -> f64> ModuleMapper for Stepper<'_, F> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let require_grad = tensor.is_require_grad();
        let dims = tensor.dims();
        let numel: usize = dims.iter().product();
        let value = tensor.inner().reshape([numel]);
        let grad = grad.reshape([numel]);
        let o = &mut *self.optim;
        let (b1, b2) = (o.beta_1 as f64, o.beta_2 as f64);
        let prev = o.states.remove(&id);
        let (time, m, v) = match prev {
            Some(s) => (s.time + 1, s.m * b1 + grad.clone() * (1.0 - b1), s.v * b2 + grad.square() * (1.0 - b2)),
            None => (1, grad.clone() * (1.0 - b1), grad.square() * (1.0 - b2)),
        };
        let lr = (self.lr)(id);
        let m_hat = m.clone() / (1.0 - b1.powi(time));
        let v_hat = v.clone() / (1.0 - b2.powi(time));
        let update = m_hat / (v_hat.sqrt() + o.epsilon as f64);
        let decayed =
            if o.weight_decay == 0.0 || lr == 0.0 { value } else { value * (1.0 - lr * o.weight_decay as f64) };
        let updated = if lr == 0.0 { decayed } else { decayed - update * lr };
        o.states.insert(id, Moments { time, m, v });
        let mut updated = Tensor::from_inner(updated.reshape(dims));
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    /// Three steps on one linear layer against the PyTorch AdamW formula evaluated in f64.
    #[test]
    fn matches_the_adamw_formula_and_restores_exactly() {
        let device = Device::flex().autodiff();
        let mut layer: Linear = LinearConfig::new(2, 1).init(&device);
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -2.0, 0.5, 3.0], [2, 2]), &device);
        let (lr, wd) = (0.1, 0.01);
        let mut optim = AdamW::new(wd as f32);
        let w0: Vec<f64> = layer.weight.val().into_data().convert::<f64>().try_into_vec::<f64>().unwrap();
        let (mut w, mut m, mut v) = (w0.clone(), vec![0f64; 2], vec![0f64; 2]);
        for t in 1..=3 {
            // loss = sum(x @ w + b)²: its gradient w.r.t. w, computed here by hand.
            let out: Vec<f64> = layer.forward(x.clone()).into_data().convert::<f64>().try_into_vec::<f64>().unwrap();
            let g = [2.0 * (out[0] * 1.0 + out[1] * 0.5), 2.0 * (out[0] * -2.0 + out[1] * 3.0)];
            let loss = layer.forward(x.clone()).square().sum();
            let mut grads = GradientsParams::from_grads(loss.backward(), &layer);
            layer = optim.step(layer, &mut grads, |_| lr);
            for k in 0..2 {
                m[k] = 0.9 * m[k] + 0.1 * g[k];
                v[k] = 0.999 * v[k] + 0.001 * g[k] * g[k];
                let update = (m[k] / (1.0 - 0.9f64.powi(t))) / ((v[k] / (1.0 - 0.999f64.powi(t))).sqrt() + 1e-8);
                w[k] = w[k] * (1.0 - lr * wd) - lr * update;
            }
            let got: Vec<f64> = layer.weight.val().into_data().convert::<f64>().try_into_vec::<f64>().unwrap();
            for k in 0..2 {
                assert!((got[k] - w[k]).abs() < 1e-5, "step {t}: {got:?} vs {w:?}");
            }
        }
        assert_eq!(optim.len(), 2, "weight and bias");
        let bytes = pollster::block_on(optim.snapshot()).unwrap();
        let mut restored = AdamW::new(wd as f32);
        restored.restore(&bytes, &Device::flex()).unwrap();
        assert_eq!(restored.len(), 2);
        for (id, s) in &optim.states {
            let r = &restored.states[id];
            assert_eq!(r.time, s.time);
            assert_eq!(r.m.to_data(), s.m.to_data());
            assert_eq!(r.v.to_data(), s.v.to_data());
        }
        assert!(restored.restore(&bytes[..bytes.len() / 2], &Device::flex()).is_err());
    }
}
