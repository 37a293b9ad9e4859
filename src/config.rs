//! Model configuration, read from and written to a Hugging Face `config.json`.
//!
//! The field names are those of transformers' `ConditionalDetrConfig` (`d_model`, `encoder_layers`,
//! `decoder_attention_heads`, `id2label`, `backbone`, `dilation`, ...), so a hub `config.json` loads as it is
//! and a fine-tuned model saves a `config.json` transformers can read back. Fields this crate does not use
//! are kept in [`ConditionalDetrConfig::extra`] and written back unchanged.
//!
//! Without a file, [`ConditionalDetrConfig::default`] is the R50 COCO model of the paper and of
//! `microsoft/conditional-detr-resnet-50`: ResNet-50, d = 256, 6 + 6 layers, 8 heads, 300 queries and the
//! 91 COCO ids with their names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::labels::COCO_ID2LABEL;

/// Errors in a `config.json`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{source_name}: not a valid config.json: {message}")]
    Parse { source_name: String, message: String },
    #[error("{source_name}: {message}")]
    Invalid { source_name: String, message: String },
}

/// Conditional DETR hyper-parameters under their Hugging Face names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConditionalDetrConfig {
    pub d_model: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub encoder_attention_heads: usize,
    pub decoder_attention_heads: usize,
    pub encoder_ffn_dim: usize,
    pub decoder_ffn_dim: usize,
    pub num_queries: usize,
    pub dropout: f64,
    pub attention_dropout: f64,
    pub activation_dropout: f64,
    pub activation_function: String,
    /// Backbone name (`resnet50`, `resnet101`; other ResNet-style names are inferred from the checkpoint).
    pub backbone: String,
    /// Replace the stride of the last stage by a dilation (the DC5 variants).
    pub dilation: bool,
    pub use_timm_backbone: bool,
    pub num_channels: usize,
    pub position_embedding_type: String,
    /// Class index (as a decimal string, HF style) to class name.
    pub id2label: BTreeMap<String, String>,
    pub class_cost: f64,
    pub bbox_cost: f64,
    pub giou_cost: f64,
    pub cls_loss_coefficient: f64,
    pub bbox_loss_coefficient: f64,
    pub giou_loss_coefficient: f64,
    pub focal_alpha: f64,
    pub auxiliary_loss: bool,
    /// Every other field of the file, written back as read.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for ConditionalDetrConfig {
    fn default() -> Self {
        Self {
            d_model: 256,
            encoder_layers: 6,
            decoder_layers: 6,
            encoder_attention_heads: 8,
            decoder_attention_heads: 8,
            encoder_ffn_dim: 2048,
            decoder_ffn_dim: 2048,
            num_queries: 300,
            dropout: 0.1,
            attention_dropout: 0.0,
            activation_dropout: 0.0,
            activation_function: "relu".into(),
            backbone: "resnet50".into(),
            dilation: false,
            use_timm_backbone: true,
            num_channels: 3,
            position_embedding_type: "sine".into(),
            id2label: COCO_ID2LABEL.iter().enumerate().map(|(i, name)| (i.to_string(), (*name).to_string())).collect(),
            class_cost: 2.0,
            bbox_cost: 5.0,
            giou_cost: 2.0,
            cls_loss_coefficient: 2.0,
            bbox_loss_coefficient: 5.0,
            giou_loss_coefficient: 2.0,
            focal_alpha: 0.25,
            auxiliary_loss: false,
            extra: serde_json::Map::new(),
        }
    }
}

impl ConditionalDetrConfig {
    /// Parses and validates a `config.json`; `source_name` names the file in errors.
    pub fn from_json(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        let config: Self = serde_json::from_str(text)
            .map_err(|e| ConfigError::Parse { source_name: source_name.to_string(), message: e.to_string() })?;
        config.validate(source_name)?;
        Ok(config)
    }

    /// The configuration as a `config.json` transformers can load.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("config serialises");
        let map = value.as_object_mut().expect("config is an object");
        let label2id: serde_json::Map<String, serde_json::Value> =
            self.labels().into_iter().enumerate().map(|(i, name)| (name, serde_json::Value::from(i))).collect();
        map.insert("label2id".into(), label2id.into());
        map.entry("model_type").or_insert("conditional_detr".into());
        map.entry("architectures").or_insert(serde_json::json!(["ConditionalDetrForObjectDetection"]));
        map.insert("num_hidden_layers".into(), self.encoder_layers.into());
        // The weights come with the checkpoint: transformers must not fetch an ImageNet backbone.
        map.insert("use_pretrained_backbone".into(), false.into());
        serde_json::to_string_pretty(&value).expect("config serialises")
    }

    /// Number of classes (the width of the class head).
    pub fn num_labels(&self) -> usize {
        self.id2label.len()
    }

    /// Class names by index.
    pub fn labels(&self) -> Vec<String> {
        (0..self.num_labels()).map(|i| self.id2label.get(&i.to_string()).cloned().unwrap_or_default()).collect()
    }

    /// Replaces the label set (fine-tuning to new classes).
    pub fn set_labels(&mut self, names: &[String]) {
        self.id2label = names.iter().enumerate().map(|(i, n)| (i.to_string(), n.clone())).collect();
        self.extra.remove("label2id");
    }

    /// Checks everything the model relies on and names the offending field.
    pub fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { source_name: source_name.to_string(), message };
        let positive = [
            ("d_model", self.d_model),
            ("encoder_attention_heads", self.encoder_attention_heads),
            ("decoder_attention_heads", self.decoder_attention_heads),
            ("encoder_ffn_dim", self.encoder_ffn_dim),
            ("decoder_ffn_dim", self.decoder_ffn_dim),
            ("num_queries", self.num_queries),
            ("decoder_layers", self.decoder_layers),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(invalid(format!("`{name}` must be positive")));
            }
        }
        // Far above any released model (d 256, FFN 2048, 300 queries, 6 + 6 layers, 91 labels): a value past
        // these is a broken file, refused before it allocates gigabytes.
        let limits = [
            ("d_model", self.d_model, 8192),
            ("encoder_ffn_dim", self.encoder_ffn_dim, 65536),
            ("decoder_ffn_dim", self.decoder_ffn_dim, 65536),
            ("num_queries", self.num_queries, 10_000),
            ("encoder_layers", self.encoder_layers, 100),
            ("decoder_layers", self.decoder_layers, 100),
            ("id2label", self.id2label.len(), 100_000),
        ];
        for (name, value, max) in limits {
            if value > max {
                return Err(invalid(format!("`{name}` = {value} is out of range (at most {max})")));
            }
        }
        for (name, heads) in [
            ("encoder_attention_heads", self.encoder_attention_heads),
            ("decoder_attention_heads", self.decoder_attention_heads),
        ] {
            if self.d_model % heads != 0 {
                return Err(invalid(format!("`d_model` ({}) is not divisible by `{name}` ({heads})", self.d_model)));
            }
        }
        if self.d_model % 2 != 0 {
            return Err(invalid(format!("`d_model` ({}) must be even (sine embeddings)", self.d_model)));
        }
        if self.id2label.is_empty() {
            return Err(invalid("`id2label` is empty".into()));
        }
        for i in 0..self.id2label.len() {
            if !self.id2label.contains_key(&i.to_string()) {
                return Err(invalid(format!(
                    "`id2label` must number its classes 0..{}; class {i} is missing",
                    self.id2label.len()
                )));
            }
        }
        if self.activation_function != "relu" {
            return Err(invalid(format!(
                "activation_function `{}` is not supported (only relu)",
                self.activation_function
            )));
        }
        if self.position_embedding_type != "sine" {
            return Err(invalid(format!(
                "position_embedding_type `{}` is not supported (only sine)",
                self.position_embedding_type
            )));
        }
        if !self.use_timm_backbone {
            return Err(invalid(
                "use_timm_backbone = false (a transformers ResNetBackbone) is not supported; \
                 the hub checkpoints use the timm ResNet naming"
                    .into(),
            ));
        }
        if self.num_channels != 3 {
            return Err(invalid(format!("num_channels must be 3, got {}", self.num_channels)));
        }
        for (name, p) in [
            ("dropout", self.dropout),
            ("attention_dropout", self.attention_dropout),
            ("activation_dropout", self.activation_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(invalid(format!("`{name}` must be in [0, 1), got {p}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_r50_coco() {
        let c = ConditionalDetrConfig::default();
        assert_eq!(c.num_labels(), 91);
        assert_eq!(c.labels()[1], "person");
        c.validate("default").unwrap();
    }

    #[test]
    fn round_trips_unknown_fields() {
        let text = r#"{"d_model": 32, "id2label": {"0": "a", "1": "b"}, "some_hf_field": [1, 2]}"#;
        let c = ConditionalDetrConfig::from_json(text, "config.json").unwrap();
        assert_eq!(c.d_model, 32);
        assert_eq!(c.labels(), vec!["a", "b"]);
        let back: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
        assert_eq!(back["some_hf_field"], serde_json::json!([1, 2]));
        assert_eq!(back["label2id"]["b"], 1);
    }

    #[test]
    fn rejects_bad_heads() {
        let text = r#"{"d_model": 30, "encoder_attention_heads": 4}"#;
        let err = ConditionalDetrConfig::from_json(text, "cfg.json").unwrap_err();
        assert!(err.to_string().contains("cfg.json"), "{err}");
        assert!(err.to_string().contains("encoder_attention_heads"), "{err}");
    }

    #[test]
    fn rejects_absurd_sizes() {
        let err = ConditionalDetrConfig::from_json(r#"{"num_queries": 1000000000}"#, "cfg.json").unwrap_err();
        assert!(err.to_string().contains("num_queries") && err.to_string().contains("out of range"), "{err}");
    }
}
