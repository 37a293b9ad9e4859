//! Placeholder until the data module lands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetBoxes {
    pub labels: Vec<usize>,
    pub boxes_cxcywh: Vec<[f32; 4]>,
}
