//! Pascal VOC XML annotations (one `Annotations/*.xml` file per image): parse and turn into a [`Dataset`].
//!
//! Follows torchvision `VOCDetection` (which parses the XML as is) and the common DETR-style practice of using
//! the VOC `bndbox` coordinates as given: `x0 = xmin, y0 = ymin, x1 = xmax, y1 = ymax` in pixels, no `-1`
//! shift for VOC's 1-based pixel indices (that shift is at most one pixel and the official VOC tools
//! disagree about it; using the values as given keeps a round trip with other tools exact). `difficult`
//! objects are kept for training (like detectron2) and their flag is kept in [`VocObject::difficult`].
//! Class names are collected across files in sorted order unless a class list is given.

use std::collections::BTreeSet;

use roxmltree::{Document, Node};

use super::{BoxAnnotation, DataError, Dataset, SampleMeta, ValidationReport, validate_box};

/// One parsed VOC XML file.
#[derive(Debug, Clone, PartialEq)]
pub struct VocFile {
    /// `<filename>`, if present.
    pub filename: Option<String>,
    /// `<size><width>` (or the dimensions supplied by the caller when `<size>` is missing or zero).
    pub width: u32,
    /// `<size><height>` (idem).
    pub height: u32,
    pub objects: Vec<VocObject>,
}

/// One `<object>`.
#[derive(Debug, Clone, PartialEq)]
pub struct VocObject {
    /// `<name>`, trimmed.
    pub name: String,
    /// `(xmin, ymin, xmax, ymax)` as given.
    pub bbox: [f32; 4],
    pub difficult: bool,
    pub truncated: bool,
    /// Line of the `<object>` element in the file (1-based), for messages.
    pub line: usize,
}

/// Parses one VOC XML file; `<size>` with a positive width and height is required.
pub fn parse_voc(xml: &str, file: &str) -> Result<VocFile, DataError> {
    parse_voc_with_dims(xml, file, None)
}

/// Parses one VOC XML file; `dims = Some((width, height))` (e.g. read from the image header) is used when
/// `<size>` is missing or has a zero width/height.
pub fn parse_voc_with_dims(xml: &str, file: &str, dims: Option<(u32, u32)>) -> Result<VocFile, DataError> {
    let doc = Document::parse(xml).map_err(|e| {
        let pos = e.pos();
        let msg = e.to_string();
        let suffix = format!(" at {pos}");
        let message = msg.strip_suffix(&suffix).unwrap_or(&msg).to_string();
        DataError::Syntax { file: file.to_string(), line: pos.row as usize, column: pos.col as usize, message }
    })?;
    let p = XmlCtx { file, doc: &doc };
    let root = doc.root_element();
    if root.tag_name().name() != "annotation" {
        return Err(p.err(root, "", format!("root element is <{}>, expected <annotation>", root.tag_name().name())));
    }
    let filename = child(root, "filename").map(|n| text(n).to_string()).filter(|s| !s.is_empty());

    let size = match child(root, "size") {
        Some(s) => {
            let w = p.number_child(s, "width", "size")?;
            let h = p.number_child(s, "height", "size")?;
            let ok = |v: f64| v.fract() == 0.0 && v >= 0.0 && v <= u32::MAX as f64;
            if !ok(w) || !ok(h) {
                return Err(p.err(s, "size", format!("width and height must be whole numbers, got {w}x{h}")));
            }
            Some((w as u32, h as u32)).filter(|&(w, h)| w > 0 && h > 0)
        }
        None => None,
    };
    let (width, height) = match size.or(dims) {
        Some(d) => d,
        None => {
            return Err(DataError::Field {
                file: file.to_string(),
                field: "annotation/size".to_string(),
                message: "missing or zero <size><width>/<height> and no image dimensions supplied".to_string(),
            });
        }
    };

    let mut objects = Vec::new();
    for (k, obj) in root.children().filter(|n| n.has_tag_name("object")).enumerate() {
        let path = format!("object[{k}]");
        let name = match child(obj, "name") {
            Some(n) if !text(n).is_empty() => text(n).to_string(),
            _ => return Err(p.err(obj, &path, "missing <name>")),
        };
        let Some(bb) = child(obj, "bndbox") else {
            return Err(p.err(obj, &path, "missing <bndbox>"));
        };
        let bpath = format!("{path}/bndbox");
        let mut bbox = [0f32; 4];
        for (v, tag) in bbox.iter_mut().zip(["xmin", "ymin", "xmax", "ymax"]) {
            *v = p.number_child(bb, tag, &bpath)? as f32;
        }
        let flag = |tag: &str| -> Result<bool, DataError> {
            match child(obj, tag) {
                None => Ok(false),
                Some(n) => match text(n) {
                    "" | "0" | "Unspecified" | "false" => Ok(false),
                    "1" | "true" => Ok(true),
                    other => Err(p.err(n, &format!("{path}/{tag}"), format!("expected 0 or 1, got {other:?}"))),
                },
            }
        };
        let difficult = flag("difficult")?;
        let truncated = flag("truncated")?;
        objects.push(VocObject { name, bbox, difficult, truncated, line: p.line(obj) });
    }
    Ok(VocFile { filename, width, height, objects })
}

struct XmlCtx<'a, 'input> {
    file: &'a str,
    doc: &'a Document<'input>,
}

impl XmlCtx<'_, '_> {
    fn line(&self, node: Node) -> usize {
        self.doc.text_pos_at(node.range().start).row as usize
    }

    fn err(&self, node: Node, path: &str, message: impl Into<String>) -> DataError {
        let line = self.line(node);
        let field = if path.is_empty() { format!("line {line}") } else { format!("line {line}: {path}") };
        DataError::Field { file: self.file.to_string(), field, message: message.into() }
    }

    fn number_child(&self, parent: Node, tag: &str, path: &str) -> Result<f64, DataError> {
        let full = format!("{path}/{tag}");
        let Some(n) = child(parent, tag) else {
            return Err(self.err(parent, &full, format!("missing <{tag}>")));
        };
        text(n).parse::<f64>().map_err(|_| self.err(n, &full, format!("expected a number, got {:?}", text(n))))
    }
}

fn child<'a, 'input>(node: Node<'a, 'input>, tag: &str) -> Option<Node<'a, 'input>> {
    node.children().find(|n| n.has_tag_name(tag))
}

fn text<'a>(node: Node<'a, '_>) -> &'a str {
    node.text().map(str::trim).unwrap_or("")
}

/// Builds a dataset from parsed VOC files given as `(file name, parsed file)`, in the given order.
///
/// `class_names`: the class list to use (boxes of other names are dropped and reported); `None` collects the
/// names of all files, sorted. Each sample's `image` is `<filename>`, or the XML file's stem + `.jpg` when
/// `<filename>` is missing; `image_id` is the sample index.
pub fn voc_dataset(files: &[(String, VocFile)], class_names: Option<Vec<String>>) -> Dataset {
    let class_names = class_names.unwrap_or_else(|| {
        let set: BTreeSet<&str> = files.iter().flat_map(|(_, f)| f.objects.iter().map(|o| o.name.as_str())).collect();
        set.into_iter().map(str::to_string).collect()
    });
    let mut report = ValidationReport::default();
    let mut samples = Vec::with_capacity(files.len());
    for (i, (file, voc)) in files.iter().enumerate() {
        let mut annotations = Vec::with_capacity(voc.objects.len());
        for (k, o) in voc.objects.iter().enumerate() {
            let what = format!("line {}: object[{k}] '{}'", o.line, o.name);
            let Some(class_id) = class_names.iter().position(|n| *n == o.name) else {
                report.dropped_unknown_class += 1;
                report.messages.push(format!("{file}: {what}: class is not in the class list; dropped"));
                continue;
            };
            if let Some(bbox) = validate_box(o.bbox, voc.width, voc.height, file, &what, &mut report) {
                annotations.push(BoxAnnotation { class_id, bbox });
            }
        }
        let image = voc.filename.clone().unwrap_or_else(|| {
            let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
            let stem = base.strip_suffix(".xml").unwrap_or(base);
            format!("{stem}.jpg")
        });
        samples.push(SampleMeta {
            image,
            width: voc.width,
            height: voc.height,
            annotations,
            image_id: i as i64,
            eval_annotations: None,
        });
    }
    Dataset { category_ids: (0..class_names.len() as i64).collect(), class_names, samples, report }
}
