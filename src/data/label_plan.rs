//! How a dataset's classes map onto a checkpoint's label set before fine-tuning: keep the class head
//! when every dataset class is one of the model's, else a new head (the CLI's `train` and `eval` and the
//! page's fine-tuning all decide here).

use crate::data::BoxAnnotation;

/// How a dataset's classes relate to a checkpoint's label set.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelPlan {
    /// Every dataset class is a model class: keep the class head; dataset class `i` is model class `map[i]`.
    Keep(Vec<usize>),
    /// New classes: a fresh class head for the dataset's label set.
    NewHead,
}

/// Keeps the class head when every dataset class name is one of the model's (case-insensitive).
pub fn plan_labels(dataset: &[String], model: &[String]) -> LabelPlan {
    let find =
        |name: &String| model.iter().position(|m| m.eq_ignore_ascii_case(name) && !m.eq_ignore_ascii_case("N/A"));
    match dataset.iter().map(find).collect::<Option<Vec<usize>>>() {
        Some(map) => LabelPlan::Keep(map),
        None => LabelPlan::NewHead,
    }
}

/// [`plan_labels`], and when the names do not match but the model has no real class names (every label
/// is transformers' placeholder `LABEL_{i}`), the dataset's category ids are the model's label indices —
/// the official semantics, where a COCO `category_id` is the class index — provided each is in range.
pub fn plan_labels_with_ids(dataset: &[String], category_ids: &[i64], model: &[String]) -> LabelPlan {
    if let LabelPlan::Keep(map) = plan_labels(dataset, model) {
        return LabelPlan::Keep(map);
    }
    let placeholders = has_placeholder_labels(model);
    let in_range =
        category_ids.len() == dataset.len() && category_ids.iter().all(|&id| id >= 0 && (id as usize) < model.len());
    if placeholders && in_range && !model.is_empty() {
        LabelPlan::Keep(category_ids.iter().map(|&id| id as usize).collect())
    } else {
        LabelPlan::NewHead
    }
}

/// Whether every label is transformers' placeholder `LABEL_{i}` (a checkpoint without real class names).
fn has_placeholder_labels(model: &[String]) -> bool {
    model.iter().enumerate().all(|(i, m)| *m == format!("LABEL_{i}"))
}

/// The dataset classes that [`plan_labels_with_ids`] cannot map onto the model's labels: no label of that
/// name, and (for placeholder labels) no label at that category id. Empty when the plan keeps the head.
pub fn unknown_classes<'a>(dataset: &'a [String], category_ids: &[i64], model: &[String]) -> Vec<&'a String> {
    if matches!(plan_labels_with_ids(dataset, category_ids, model), LabelPlan::Keep(_)) {
        return Vec::new();
    }
    let by_id = has_placeholder_labels(model) && category_ids.len() == dataset.len();
    let known = |i: usize, name: &String| {
        model.iter().any(|m| m.eq_ignore_ascii_case(name) && !m.eq_ignore_ascii_case("N/A"))
            || (by_id && category_ids[i] >= 0 && (category_ids[i] as usize) < model.len())
    };
    dataset.iter().enumerate().filter(|&(i, name)| !known(i, name)).map(|(_, name)| name).collect()
}

impl LabelPlan {
    /// Dataset class → model class, and whether the plan needs a new class head (then dataset class `i` is
    /// model class `i` of the new head, for `num_classes` dataset classes).
    pub fn class_map(&self, num_classes: usize) -> (Vec<usize>, bool) {
        match self {
            LabelPlan::Keep(map) => (map.clone(), false),
            LabelPlan::NewHead => ((0..num_classes).collect(), true),
        }
    }
}

/// Boxes with their dataset class ids replaced by model class ids (`map[class_id]`).
pub fn remap_boxes(boxes: &[BoxAnnotation], map: &[usize]) -> Vec<BoxAnnotation> {
    boxes.iter().map(|b| BoxAnnotation { class_id: map[b.class_id], ..*b }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unknown_classes_are_those_neither_name_nor_id_maps() {
        let model = names(&["cat", "dog"]);
        assert!(unknown_classes(&names(&["Dog", "cat"]), &[7, 8], &model).is_empty());
        assert_eq!(unknown_classes(&names(&["dog", "zebra"]), &[0, 1], &model), vec!["zebra"]);
        // Placeholder labels: category ids in range map; an id out of range does not.
        let placeholders = names(&["LABEL_0", "LABEL_1", "LABEL_2"]);
        assert!(unknown_classes(&names(&["a", "b"]), &[0, 2], &placeholders).is_empty());
        assert_eq!(unknown_classes(&names(&["a", "zebra"]), &[1, 999], &placeholders), vec!["zebra"]);
    }
}
