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
use common::fixtures;

/// `name → shape` of a manifest.
fn manifest(file: &str) -> BTreeMap<String, Vec<usize>> {
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
