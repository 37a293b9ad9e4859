//! Shared helpers of the integration tests: the reference fixtures (`tests/fixtures/tiny`, the main one, and
//! `tests/fixtures/tiny_dc5`, a second configuration) and comparisons.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn tiny(file: &str) -> PathBuf {
    fixtures().join("tiny").join(file)
}

/// A reference tensor as f64 values plus its shape.
#[derive(Debug, Clone)]
pub struct RefTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

impl RefTensor {
    pub fn f32(&self) -> Vec<f32> {
        self.values.iter().map(|&v| v as f32).collect()
    }
    pub fn usize(&self) -> Vec<usize> {
        self.values.iter().map(|&v| v as usize).collect()
    }
}

/// Every tensor of the main fixture's `fixture.safetensors`.
pub fn fixture_tensors() -> HashMap<String, RefTensor> {
    fixture_tensors_of("tiny")
}

/// Every tensor of `tests/fixtures/{fixture}/fixture.safetensors`.
pub fn fixture_tensors_of(fixture: &str) -> HashMap<String, RefTensor> {
    read_tensors(&fixtures().join(fixture).join("fixture.safetensors"))
}

/// The DETR fixture's `aux_reference.safetensors` (made by `detr_tiny/make_aux_reference.py`).
pub fn detr_aux_tensors() -> HashMap<String, RefTensor> {
    read_tensors(&fixtures().join("detr_tiny/aux_reference.safetensors"))
}

/// Every tensor of a safetensors file, as f64.
pub fn read_tensors(path: &std::path::Path) -> HashMap<String, RefTensor> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = safetensors::SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let data = view.data();
        let values: Vec<f64> = match view.dtype() {
            safetensors::Dtype::F32 => {
                data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect()
            }
            safetensors::Dtype::I64 => {
                data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect()
            }
            safetensors::Dtype::U8 => data.iter().map(|&v| v as f64).collect(),
            safetensors::Dtype::BOOL => data.iter().map(|&v| v as f64).collect(),
            other => panic!("unexpected dtype {other:?} for {name}"),
        };
        out.insert(name, RefTensor { shape: view.shape().to_vec(), values });
    }
    out
}

pub fn fixture_json() -> serde_json::Value {
    fixture_json_of("tiny")
}

pub fn fixture_json_of(fixture: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(fixture).join("fixture.json")).unwrap()).unwrap()
}

/// Largest `|a - b|`, asserting equal lengths.
pub fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(&x, &y)| (x as f64 - y).abs()).fold(0.0, f64::max)
}

/// Asserts `|a - b| <= tol · max(1, |b|)` element-wise (absolute for values of order one, relative for large
/// ones), naming the tensor and the worst element.
pub fn assert_close(name: &str, a: &[f32], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{name}: {} values, reference has {}", a.len(), b.len());
    let mut worst = (0.0f64, 0usize);
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        let err = (x as f64 - y).abs() / y.abs().max(1.0);
        if err.is_nan() || err > worst.0 {
            worst = (err, i);
        }
    }
    assert!(
        worst.0 <= tol,
        "{name}: error {:.3e} > {tol:.0e} at index {} (got {}, reference {})",
        worst.0,
        worst.1,
        a[worst.1],
        b[worst.1]
    );
}

/// Asserts `|a - b| <= tol` element-wise (absolute), naming the tensor and the worst element.
pub fn assert_close_abs(name: &str, a: &[f32], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{name}: {} values, reference has {}", a.len(), b.len());
    let (worst, at) = a
        .iter()
        .zip(b)
        .enumerate()
        .map(|(i, (&x, &y))| ((x as f64 - y).abs(), i))
        .fold((0.0, 0), |m, e| if e.0.is_nan() || e.0 > m.0 { e } else { m });
    assert!(worst <= tol, "{name}: |error| {worst:.3e} > {tol:.0e} at index {at} (got {}, reference {})", a[at], b[at]);
}

/// `name → shape` of a manifest of a real checkpoint (`tests/fixtures/manifests`).
pub fn manifest(file: &str) -> std::collections::BTreeMap<String, Vec<usize>> {
    let text = std::fs::read_to_string(fixtures().join("manifests").join(file)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["keys"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, e)| {
            (k.clone(), e["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect())
        })
        .collect()
}
