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
//!
//! `model_type` chooses the architecture: `conditional_detr` (the default, also when the field is absent)
//! or `detr` (the paper's baseline, transformers' `DetrConfig`). A DETR file takes the `DetrConfig` defaults
//! for the fields it omits where they differ from Conditional DETR's (100 queries, `class_cost` 1, a
//! `loss_ce` weight of 1, `eos_coefficient` 0.1); [`ConditionalDetrConfig::detr`] is
//! `facebook/detr-resnet-50`. Two fields of this crate (absent from transformers' configs, written only when
//! not at their defaults) select the ablations of the conditional decoder: `spatial_query` (paper §4.3,
//! [`SpatialQuery`]) and `box_offset` (`false`: boxes are not predicted as an offset from the reference
//! point).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::labels::COCO_ID2LABEL;
pub use crate::model::transformer::SpatialQuery;

/// Errors in a `config.json`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{source_name}: not a valid config.json: {message}")]
    Parse { source_name: String, message: String },
    #[error("{source_name}: {message}")]
    Invalid { source_name: String, message: String },
}

/// The architecture a configuration describes (transformers' `model_type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelType {
    /// Conditional DETR (`ConditionalDetrForObjectDetection`).
    #[default]
    ConditionalDetr,
    /// DETR, the paper's baseline (`DetrForObjectDetection`).
    Detr,
}

impl ModelType {
    /// transformers' `architectures` entry.
    pub fn architecture(self) -> &'static str {
        match self {
            Self::ConditionalDetr => "ConditionalDetrForObjectDetection",
            Self::Detr => "DetrForObjectDetection",
        }
    }
}

/// Conditional DETR (or DETR) hyper-parameters under their Hugging Face names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConditionalDetrConfig {
    pub model_type: ModelType,
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
    /// DETR's weight of the no-object class in `loss_ce` (`None`: 0.1; unused by Conditional DETR).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eos_coefficient: Option<f64>,
    pub auxiliary_loss: bool,
    /// The ablation of the conditional spatial query (Conditional DETR only; this crate's field).
    #[serde(skip_serializing_if = "SpatialQuery::is_default")]
    pub spatial_query: SpatialQuery,
    /// Boxes as an offset from the query's reference point (paper §3.2; `false` is the ablation without
    /// it; Conditional DETR only; this crate's field).
    #[serde(skip_serializing_if = "is_true")]
    pub box_offset: bool,
    /// Every other field of the file, written back as read.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for ConditionalDetrConfig {
    fn default() -> Self {
        let (matcher, loss) = (crate::matcher::MatcherCosts::default(), crate::criterion::LossWeights::default());
        Self {
            model_type: ModelType::ConditionalDetr,
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
            class_cost: matcher.class as f64,
            bbox_cost: matcher.bbox as f64,
            giou_cost: matcher.giou as f64,
            cls_loss_coefficient: loss.ce as f64,
            bbox_loss_coefficient: loss.bbox as f64,
            giou_loss_coefficient: loss.giou as f64,
            focal_alpha: 0.25,
            eos_coefficient: None,
            auxiliary_loss: false,
            spatial_query: SpatialQuery::default(),
            box_offset: true,
            extra: serde_json::Map::new(),
        }
    }
}

fn is_true(b: &bool) -> bool {
    *b
}

/// DETR's default `eos_coefficient`.
const DETR_EOS_COEFFICIENT: f64 = 0.1;

/// transformers' `DetrConfig` defaults that differ from `ConditionalDetrConfig`'s (DETR weighs `loss_ce` by a
/// fixed 1; it has no `cls_loss_coefficient`).
fn detr_defaults() -> [(&'static str, serde_json::Value); 4] {
    [
        ("num_queries", 100.into()),
        ("class_cost", 1.0.into()),
        ("cls_loss_coefficient", 1.0.into()),
        ("eos_coefficient", DETR_EOS_COEFFICIENT.into()),
    ]
}

impl ConditionalDetrConfig {
    /// `facebook/detr-resnet-50`: DETR with ResNet-50, d = 256, 6 + 6 layers, 8 heads, 100 queries, the 91
    /// COCO ids (+ the no-object class) and the DETR loss (1 / 5 / 2, `eos_coefficient` 0.1).
    pub fn detr() -> Self {
        Self::from_json(r#"{"model_type": "detr"}"#, "DETR defaults").expect("the DETR defaults are valid")
    }

    /// Parses and validates a `config.json`; `source_name` names the file in errors.
    pub fn from_json(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        let parse_err =
            |e: serde_json::Error| ConfigError::Parse { source_name: source_name.to_string(), message: e.to_string() };
        let mut config: Self = serde_json::from_str(text).map_err(parse_err)?;
        if config.model_type == ModelType::Detr {
            // Fields the file omits take DetrConfig's defaults, not Conditional DETR's.
            let mut value: serde_json::Value = serde_json::from_str(text).map_err(parse_err)?;
            if let Some(map) = value.as_object_mut() {
                for (key, default) in detr_defaults() {
                    map.entry(key).or_insert(default);
                }
            }
            config = serde_json::from_value(value).map_err(parse_err)?;
        }
        config.validate(source_name)?;
        Ok(config)
    }

    pub fn is_detr(&self) -> bool {
        self.model_type == ModelType::Detr
    }

    /// DETR's no-object weight in `loss_ce` (0.1 unless the file says otherwise).
    pub fn eos_coefficient(&self) -> f64 {
        self.eos_coefficient.unwrap_or(DETR_EOS_COEFFICIENT)
    }

    /// The configuration as a `config.json` transformers can load.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("config serialises");
        let map = value.as_object_mut().expect("config is an object");
        let label2id: serde_json::Map<String, serde_json::Value> =
            self.labels().into_iter().enumerate().map(|(i, name)| (name, serde_json::Value::from(i))).collect();
        map.insert("label2id".into(), label2id.into());
        map.entry("architectures").or_insert(serde_json::json!([self.model_type.architecture()]));
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
            if !self.d_model.is_multiple_of(heads) {
                return Err(invalid(format!("`d_model` ({}) is not divisible by `{name}` ({heads})", self.d_model)));
            }
        }
        if !self.d_model.is_multiple_of(2) {
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
        if self.is_detr() && (self.spatial_query != SpatialQuery::default() || !self.box_offset) {
            return Err(invalid(
                "`spatial_query` and `box_offset` are ablations of Conditional DETR's decoder; DETR has neither".into(),
            ));
        }
        if let Some(eos) = self.eos_coefficient.filter(|e| !(0.0..=1.0).contains(e)) {
            return Err(invalid(format!("`eos_coefficient` must be in [0, 1], got {eos}")));
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

    #[test]
    fn detr_files_take_detr_defaults() {
        let c = ConditionalDetrConfig::from_json(r#"{"model_type": "detr", "bbox_cost": 4}"#, "c.json").unwrap();
        assert!(c.is_detr());
        assert_eq!((c.num_queries, c.class_cost, c.cls_loss_coefficient, c.eos_coefficient()), (100, 1.0, 1.0, 0.1));
        assert_eq!((c.bbox_cost, c.giou_cost, c.bbox_loss_coefficient, c.giou_loss_coefficient), (4.0, 2.0, 5.0, 2.0));
        assert_eq!(c, ConditionalDetrConfig { bbox_cost: 4.0, ..ConditionalDetrConfig::detr() });
        // What the file says wins; the same keys without model_type keep Conditional DETR's defaults.
        let c = ConditionalDetrConfig::from_json(
            r#"{"model_type": "detr", "num_queries": 7, "eos_coefficient": 0.2}"#,
            "c",
        )
        .unwrap();
        assert_eq!((c.num_queries, c.eos_coefficient()), (7, 0.2));
        let c = ConditionalDetrConfig::from_json("{}", "c.json").unwrap();
        assert_eq!((c.model_type, c.num_queries, c.class_cost), (ModelType::ConditionalDetr, 300, 2.0));
    }

    #[test]
    fn model_type_and_ablations_round_trip_and_conditional_output_is_unchanged() {
        let detr: serde_json::Value = serde_json::from_str(&ConditionalDetrConfig::detr().to_json()).unwrap();
        assert_eq!(
            (detr["model_type"].as_str(), detr["architectures"][0].as_str()),
            (Some("detr"), Some("DetrForObjectDetection"))
        );
        assert_eq!(detr["eos_coefficient"], 0.1);
        let plain: serde_json::Value = serde_json::from_str(&ConditionalDetrConfig::default().to_json()).unwrap();
        assert_eq!(plain["model_type"], "conditional_detr");
        for key in ["eos_coefficient", "spatial_query", "box_offset"] {
            assert!(plain.get(key).is_none(), "{key} written for the default Conditional DETR");
        }
        let text = r#"{"spatial_query": "csq-i", "box_offset": false}"#;
        let c = ConditionalDetrConfig::from_json(text, "c.json").unwrap();
        assert_eq!((c.spatial_query, c.box_offset), (SpatialQuery::CsqI, false));
        let back = ConditionalDetrConfig::from_json(&c.to_json(), "back").unwrap();
        assert_eq!((back.spatial_query, back.box_offset), (SpatialQuery::CsqI, false));
    }

    #[test]
    fn rejects_unknown_model_types_and_ablations_of_detr() {
        let err = ConditionalDetrConfig::from_json(r#"{"model_type": "deformable_detr"}"#, "c.json").unwrap_err();
        assert!(err.to_string().contains("deformable_detr"), "{err}");
        let err = ConditionalDetrConfig::from_json(r#"{"model_type": "detr", "spatial_query": "csq-t"}"#, "c.json")
            .unwrap_err();
        assert!(err.to_string().contains("spatial_query"), "{err}");
        let err =
            ConditionalDetrConfig::from_json(r#"{"model_type": "detr", "eos_coefficient": 2}"#, "c.json").unwrap_err();
        assert!(err.to_string().contains("eos_coefficient"), "{err}");
    }
}
