//! Loading checkpoints with exactly the key names and shapes of the real R50 releases
//! (`tests/fixtures/manifests`: the 588 keys of `microsoft/conditional-detr-resnet-50` `model.safetensors`
//! and the 564 keys of the official `ConditionalDETR_r50_epoch50.pth`), filled with random values, into
//! the default R50 COCO model, and the 530 keys of `facebook/detr-resnet-50` into the default DETR model;
//! and the errors for missing, unexpected and mis-shaped keys.

mod common;

use std::collections::BTreeMap;

use burn::tensor::Device;
use cdetr::ConditionalDetrConfig;
use cdetr::weights::{
    CheckpointFormat, NamedTensor, collect_hf_tensors, load_model, read_checkpoint_bytes, write_safetensors,
};
use common::{fixtures, manifest};

/// Deterministic pseudo-random values in [-0.5, 0.5).
fn random_tensors(keys: &BTreeMap<String, Vec<usize>>, seed: u64) -> Vec<NamedTensor> {
    let mut state = seed;
    keys.iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let data = (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
                })
                .collect();
            NamedTensor { name: name.clone(), shape: shape.clone(), data }
        })
        .collect()
}

fn by_name(tensors: &[NamedTensor]) -> BTreeMap<&str, &NamedTensor> {
    tensors.iter().map(|t| (t.name.as_str(), t)).collect()
}

#[test]
fn hub_r50_layout_loads_into_the_default_model_and_round_trips() {
    let keys = manifest("hf_conditional_detr_resnet50.manifest.json");
    assert_eq!(keys.len(), 588);
    let tensors = random_tensors(&keys, 1);
    let bytes = write_safetensors(&tensors, None);
    let ckpt = read_checkpoint_bytes(bytes, "model.safetensors").unwrap();
    assert_eq!(ckpt.format, CheckpointFormat::HfSafetensors);
    let model = load_model(&ConditionalDetrConfig::default(), &ckpt, &Device::flex()).unwrap();
    assert_eq!(model.num_queries(), 300);
    assert_eq!(model.num_labels(), 91);

    // Every parameter came from the file: reading the model back gives the file.
    let back = pollster::block_on(collect_hf_tensors(&model)).unwrap();
    assert_eq!(back.len(), tensors.len());
    let original = by_name(&tensors);
    for t in &back {
        let o = original.get(t.name.as_str()).unwrap_or_else(|| panic!("{} not in the hub layout", t.name));
        assert_eq!(t.shape, o.shape, "{}", t.name);
        assert!(t.data == o.data, "{} values differ", t.name);
    }
}

#[test]
fn official_r50_layout_loads_into_the_default_model() {
    let keys = manifest("official_conditional_detr_r50.manifest.json");
    assert_eq!(keys.len(), 564);
    let tensors = random_tensors(&keys, 2);
    let bytes = write_safetensors(&tensors, None);
    let ckpt = read_checkpoint_bytes(bytes, "ConditionalDETR_r50_epoch50.safetensors").unwrap();
    assert_eq!(ckpt.format, CheckpointFormat::OfficialSafetensors);
    // The fused encoder in_proj tensors became q/k/v: 564 - 2·6 + 6·6 = 588 HF tensors.
    assert_eq!(ckpt.tensors.len(), 588);
    let model = load_model(&ConditionalDetrConfig::default(), &ckpt, &Device::flex()).unwrap();
    let back = pollster::block_on(collect_hf_tensors(&model)).unwrap();
    let back = by_name(&back);
    let original = by_name(&tensors);
    // q/k/v are the row blocks of in_proj_weight.
    let in_proj = original["transformer.encoder.layers.3.self_attn.in_proj_weight"];
    let k = back["model.encoder.layers.3.self_attn.k_proj.weight"];
    assert_eq!(k.shape, vec![256, 256]);
    assert!(k.data[..] == in_proj.data[256 * 256..2 * 256 * 256]);
    let cls = back["class_labels_classifier.bias"];
    assert!(cls.data[..] == original["class_embed.bias"].data[..]);
    let conv = back["model.backbone.conv_encoder.model.layer3.5.conv2.weight"];
    assert!(conv.data[..] == original["backbone.0.body.layer3.5.conv2.weight"].data[..]);
}

#[test]
fn missing_unexpected_and_misshaped_keys_are_listed() {
    let keys = manifest("hf_conditional_detr_resnet50.manifest.json");
    let mut tensors = random_tensors(&keys, 3);
    tensors.retain(|t| t.name != "model.decoder.layers.2.ca_kpos_proj.weight");
    tensors.push(NamedTensor { name: "model.decoder.extra.weight".into(), shape: vec![2], data: vec![0.0, 1.0] });
    let i = tensors.iter().position(|t| t.name == "model.input_projection.bias").unwrap();
    tensors[i] = NamedTensor { name: tensors[i].name.clone(), shape: vec![128], data: vec![0.0; 128] };
    let ckpt = read_checkpoint_bytes(write_safetensors(&tensors, None), "broken.safetensors").unwrap();
    let err = load_model(&ConditionalDetrConfig::default(), &ckpt, &Device::flex()).unwrap_err().to_string();
    assert!(err.starts_with("broken.safetensors: "), "{err}");
    assert!(err.contains("missing keys: model.decoder.layers.2.ca_kpos_proj.weight"), "{err}");
    assert!(err.contains("unexpected keys: model.decoder.extra.weight"), "{err}");
    assert!(err.contains("mis-shaped") && err.contains("input_projection.bias"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn non_float_and_corrupt_headers_are_rejected() {
    let mut header = br#"{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#.to_vec();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(&header);
    bytes.extend([0u8; 8]);
    let err = read_checkpoint_bytes(bytes, "ints.safetensors").unwrap_err().to_string();
    assert!(err.contains("ints.safetensors") && err.contains("I64"), "{err}");

    let mut bytes = 20u64.to_le_bytes().to_vec();
    bytes.extend(b"{\"x\": [not json      ");
    let err = read_checkpoint_bytes(bytes, "garbled.safetensors").unwrap_err().to_string();
    assert!(err.contains("garbled.safetensors") && err.contains("header"), "{err}");
}

/// A safetensors header that claims more bytes than the file has (10^15, or just past the end) is a
/// "truncated" error naming both sizes, not an allocation; so is a tensor whose data lies past the end, or
/// whose offsets are reversed.
#[test]
fn oversized_and_truncated_safetensors_headers_are_named() {
    let mut bytes = 1_000_000_000_000_000u64.to_le_bytes().to_vec();
    bytes.extend(b"{\"x\":{}}      ");
    let err = read_checkpoint_bytes(bytes, "huge.safetensors").unwrap_err().to_string();
    assert!(err.contains("huge.safetensors") && err.contains("claims 1000000000000000 bytes"), "{err}");
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.extend(b"{}");
    let err = read_checkpoint_bytes(bytes, "max.safetensors").unwrap_err().to_string();
    assert!(err.contains("max.safetensors") && err.contains("truncated"), "{err}");
    for (offsets, what) in [("[0,400]", "beyond the end"), ("[8,4]", "beyond the end")] {
        let header = format!(r#"{{"x":{{"dtype":"F32","shape":[1],"data_offsets":{offsets}}}}}"#);
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend([0u8; 8]);
        let err = read_checkpoint_bytes(bytes, "cut.safetensors").unwrap_err().to_string();
        assert!(err.contains("cut.safetensors") && err.contains(what), "{offsets}: {err}");
    }
}

/// Random bytes, and random bytes behind a zip or pickle signature, given as a `.pth`: one error naming the
/// file, never a panic.
#[test]
fn random_bytes_as_pth_are_an_error() {
    let dir = std::env::temp_dir().join(format!("cdetr-weights-random-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    for (name, prefix) in [("random.pth", &b""[..]), ("zip.pth", b"PK\x03\x04"), ("pickle.pth", b"\x80\x02")] {
        let path = dir.join(name);
        std::fs::write(&path, [prefix, &random].concat()).unwrap();
        let err = cdetr::weights::read_checkpoint_file(&path).unwrap_err().to_string();
        assert!(err.contains(name), "{err}");
    }
}

/// DETR: a checkpoint with exactly the 530 keys and shapes of `facebook/detr-resnet-50` `model.safetensors`
/// loads into the default DETR model (`model_type: "detr"`) and reads back unchanged; it does not load as
/// Conditional DETR, nor a Conditional DETR checkpoint as DETR.
#[test]
fn hub_detr_r50_layout_loads_into_the_default_detr_model_and_round_trips() {
    let keys = manifest("hf_detr_resnet50.manifest.json");
    assert_eq!(keys.len(), 530);
    let tensors = random_tensors(&keys, 4);
    let ckpt = read_checkpoint_bytes(write_safetensors(&tensors, None), "model.safetensors").unwrap();
    assert_eq!(ckpt.format, CheckpointFormat::HfSafetensors);
    let config = ConditionalDetrConfig::detr();
    let model = load_model(&config, &ckpt, &Device::flex()).unwrap();
    assert!(model.is_detr());
    assert_eq!((model.num_queries(), model.num_labels()), (100, 91));
    let back = pollster::block_on(collect_hf_tensors(&model)).unwrap();
    assert_eq!(back.len(), tensors.len());
    let original = by_name(&tensors);
    for t in &back {
        let o = original.get(t.name.as_str()).unwrap_or_else(|| panic!("{} not in the DETR hub layout", t.name));
        assert_eq!(t.shape, o.shape, "{}", t.name);
        assert!(t.data == o.data, "{} values differ", t.name);
    }

    let err = load_model(&ConditionalDetrConfig::default(), &ckpt, &Device::flex()).unwrap_err().to_string();
    assert!(err.contains("missing keys: model.decoder.layers.0.ca_kcontent_proj.bias"), "{err}");
    assert!(err.contains("unexpected keys: model.decoder.layers.0.encoder_attn.k_proj.bias"), "{err}");
    let conditional = random_tensors(&manifest("hf_conditional_detr_resnet50.manifest.json"), 5);
    let ckpt = read_checkpoint_bytes(write_safetensors(&conditional, None), "cdetr.safetensors").unwrap();
    let err = load_model(&config, &ckpt, &Device::flex()).unwrap_err().to_string();
    assert!(err.contains("class_labels_classifier.weight (file [91, 256], model [92, 256])"), "{err}");
}

/// Every parameter of a loaded model under the name its place in the module tree gives it, independently of
/// the loader's name table: the struct fields are the Hugging Face names, except the backbone's prefix
/// (`model.backbone.` for `model.backbone.conv_encoder.model.`), `downsample.conv`/`.bn` for `downsample.0`/`.1`
/// and LayerNorm's `gamma`/`beta` for `weight`/`bias`; Linear weights are read back as `[out, in]`.
fn params_by_tree_name(model: &cdetr::model::ConditionalDetr) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    use cdetr::readback::read_floats;
    use cdetr::weights::ModelParams;
    let mut out = BTreeMap::new();
    for p in ModelParams::of(model) {
        let mut name = match p.path.strip_prefix("model.backbone.") {
            Some(rest) => format!("model.backbone.conv_encoder.model.{rest}"),
            None => p.path.clone(),
        };
        name = name.replace(".downsample.conv.", ".downsample.0.").replace(".downsample.bn.", ".downsample.1.");
        if p.module == "Struct:LayerNorm" {
            name = name.replace(".gamma", ".weight").replace(".beta", ".bias");
        }
        let mut data = pollster::block_on(read_floats(p.values, &name)).unwrap();
        let mut shape = p.shape.clone();
        if p.module == "Struct:Linear" && shape.len() == 2 {
            let (rows, cols) = (shape[0], shape[1]);
            let mut t = vec![0f32; data.len()];
            for r in 0..rows {
                for c in 0..cols {
                    t[c * rows + r] = data[r * cols + c];
                }
            }
            (data, shape) = (t, vec![cols, rows]);
        }
        assert!(out.insert(name.clone(), (shape, data)).is_none(), "{name} twice");
    }
    out
}

/// Walks a hub manifest key by key: the model parameter at that key's place in the module tree holds
/// exactly the file's tensor of that key (not only "the loader reads back what it wrote", which two
/// same-shaped keys swapped in the name table would also pass).
fn hub_manifest_walk(file: &str, config: &ConditionalDetrConfig, seed: u64) {
    let keys = manifest(file);
    let tensors = random_tensors(&keys, seed);
    let ckpt = read_checkpoint_bytes(write_safetensors(&tensors, None), "model.safetensors").unwrap();
    let model = load_model(config, &ckpt, &Device::flex()).unwrap();
    let params = params_by_tree_name(&model);
    assert_eq!(params.len(), keys.len(), "one model parameter per key");
    for t in &tensors {
        let (shape, data) = params.get(&t.name).unwrap_or_else(|| panic!("{}: no parameter at this place", t.name));
        assert_eq!(shape, &t.shape, "{}", t.name);
        assert!(data == &t.data, "{}: the parameter at this place holds another tensor", t.name);
    }
}

#[test]
fn hub_r50_manifest_key_by_key() {
    hub_manifest_walk("hf_conditional_detr_resnet50.manifest.json", &ConditionalDetrConfig::default(), 6);
}

#[test]
fn hub_detr_r50_manifest_key_by_key() {
    hub_manifest_walk("hf_detr_resnet50.manifest.json", &ConditionalDetrConfig::detr(), 7);
}

/// The official manifest's own mapping (`hf_keys` and `op`, from transformers' conversion script) for each of
/// its 564 keys: a `rename` lands in the parameter at its HF key's place, a `split_dim0_into_3` gives rows
/// `[0:d]`, `[d:2d]`, `[2d:3d]` to q, k and v; together they fill all 588 parameters.
#[test]
fn official_r50_manifest_key_by_key() {
    let text =
        std::fs::read_to_string(fixtures().join("manifests/official_conditional_detr_r50.manifest.json")).unwrap();
    let entries: serde_json::Value = serde_json::from_str(&text).unwrap();
    let entries = entries["keys"].as_object().unwrap();
    let keys = manifest("official_conditional_detr_r50.manifest.json");
    let tensors = random_tensors(&keys, 8);
    let ckpt = read_checkpoint_bytes(write_safetensors(&tensors, None), "official.safetensors").unwrap();
    let model = load_model(&ConditionalDetrConfig::default(), &ckpt, &Device::flex()).unwrap();
    let params = params_by_tree_name(&model);
    let mut filled = std::collections::BTreeSet::new();
    for t in &tensors {
        let entry = &entries[&t.name];
        let hf_keys: Vec<&str> = entry["hf_keys"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
        let op = entry["op"].as_str().unwrap();
        let parts = if op == "rename" {
            assert_eq!(hf_keys.len(), 1, "{}", t.name);
            1
        } else {
            assert!(op.starts_with("split_dim0_into_3"), "{}: unknown op {op}", t.name);
            assert_eq!(hf_keys.len(), 3, "{}", t.name);
            3
        };
        let block = t.data.len() / parts;
        for (i, hf) in hf_keys.iter().enumerate() {
            let (shape, data) = params.get(*hf).unwrap_or_else(|| panic!("{} → {hf}: no such parameter", t.name));
            assert_eq!(shape[0] * parts, t.shape[0], "{} → {hf}", t.name);
            assert!(data[..] == t.data[i * block..(i + 1) * block], "{} → {hf}: another tensor's values", t.name);
            assert!(filled.insert(hf.to_string()), "{hf} filled twice");
        }
    }
    assert_eq!(filled.len(), 588);
    assert_eq!(filled.len(), params.len());
}

/// A checkpoint stored in F16, BF16 or F64 (as `torch_dtype` exports write them) loads as the f32 values
/// those bytes hold, every tensor (a decoder reading the wrong width or byte order fails here).
#[test]
fn f16_bf16_and_f64_checkpoints_load_as_the_values_they_store() {
    use safetensors::Dtype;
    use safetensors::tensor::TensorView;
    let source = std::fs::read(common::tiny("model.safetensors")).unwrap();
    let reference = read_checkpoint_bytes(source, "model.safetensors").unwrap();
    type Encode = fn(f32) -> (Vec<u8>, f32);
    let cases: [(Dtype, Encode); 3] = [
        (Dtype::F16, |v| {
            let h = half::f16::from_f32(v);
            (h.to_le_bytes().to_vec(), h.to_f32())
        }),
        (Dtype::BF16, |v| {
            let h = half::bf16::from_f32(v);
            (h.to_le_bytes().to_vec(), h.to_f32())
        }),
        (Dtype::F64, |v| {
            ((v as f64 * (1.0 + f64::EPSILON)).to_le_bytes().to_vec(), (v as f64 * (1.0 + f64::EPSILON)) as f32)
        }),
    ];
    for (dtype, encode) in cases {
        // (name, shape, stored bytes, the f32 values they hold)
        type Encoded = (String, Vec<usize>, Vec<u8>, Vec<f32>);
        let encoded: Vec<Encoded> = reference
            .tensors
            .iter()
            .map(|t| {
                let (bytes, values): (Vec<Vec<u8>>, Vec<f32>) = t.data.iter().map(|&v| encode(v)).unzip();
                (t.name.clone(), t.shape.clone(), bytes.concat(), values)
            })
            .collect();
        let views: Vec<(String, TensorView)> = encoded
            .iter()
            .map(|(name, shape, bytes, _)| (name.clone(), TensorView::new(dtype, shape.clone(), bytes).unwrap()))
            .collect();
        let file = safetensors::serialize(views, None).unwrap();
        let loaded = read_checkpoint_bytes(file, &format!("model-{dtype:?}.safetensors")).unwrap();
        assert_eq!(loaded.tensors.len(), reference.tensors.len(), "{dtype:?}");
        for (t, (name, shape, _, values)) in loaded.tensors.iter().zip(&encoded) {
            assert_eq!((&t.name, &t.shape), (name, shape), "{dtype:?}");
            assert_eq!(&t.data, values, "{dtype:?} {name}: not the stored values");
        }
    }
}
