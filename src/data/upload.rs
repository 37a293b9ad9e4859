//! A dataset from loose files, as the web page receives them: annotation files (COCO JSON, Pascal VOC XML,
//! or YOLO txt with a `classes.txt`/`obj.names`/`data.yaml` class list) dropped together with their images.
//!
//! Images are matched to annotations by file name (COCO `file_name` / VOC `<filename>`, compared without
//! folders) or by stem (YOLO `image.txt` ↔ `image.jpg`; a VOC file without `<filename>` ↔ the image of
//! its stem). Annotations without an uploaded image are listed in the report, not fatal.

use std::collections::HashMap;

use super::{
    BoxAnnotation, DataError, Dataset, SampleMeta, ValidationReport, parse_class_names, parse_coco_with_dims,
    parse_voc_with_dims, parse_yolo_with_report, voc_dataset,
};

/// An uploaded image: its file name and size.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadedImage {
    pub name: String,
    pub width: u32,
    pub height: u32,
}

fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn stem(path: &str) -> &str {
    let base = base_name(path);
    base.rsplit_once('.').map(|(s, _)| s).unwrap_or(base)
}

fn extension(path: &str) -> String {
    base_name(path).rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default()
}

fn is_class_list(name: &str) -> bool {
    let base = base_name(name).to_ascii_lowercase();
    matches!(base.as_str(), "classes.txt" | "obj.names" | "data.yaml" | "data.yml" | "labels.txt")
        || base.ends_with(".names")
}

/// Builds a dataset whose sample `image`s are the uploaded image names. `files` are `(name, text)`.
pub fn dataset_from_uploads(files: &[(String, String)], images: &[UploadedImage]) -> Result<Dataset, DataError> {
    let by_name: HashMap<&str, &UploadedImage> = images.iter().map(|i| (base_name(&i.name), i)).collect();
    let by_stem: HashMap<&str, &UploadedImage> = images.iter().map(|i| (stem(&i.name), i)).collect();
    let json: Vec<&(String, String)> = files.iter().filter(|(n, _)| extension(n) == "json").collect();
    let xml: Vec<&(String, String)> = files.iter().filter(|(n, _)| extension(n) == "xml").collect();
    let class_lists: Vec<&(String, String)> = files.iter().filter(|(n, _)| is_class_list(n)).collect();
    let txt: Vec<&(String, String)> =
        files.iter().filter(|(n, _)| extension(n) == "txt" && !is_class_list(n)).collect();

    let mut dataset = if let Some((name, text)) = json.first() {
        let dims = |file_name: &str| by_name.get(base_name(file_name)).map(|i| (i.width, i.height));
        let mut d = parse_coco_with_dims(text, name, &dims)?;
        let mut kept = Vec::new();
        for mut s in d.samples.drain(..) {
            match by_name.get(base_name(&s.image)) {
                Some(img) => {
                    s.image = img.name.clone();
                    kept.push(s);
                }
                None => d.report.messages.push(format!("{name}: no uploaded image named {}", s.image)),
            }
        }
        d.samples = kept;
        d
    } else if !xml.is_empty() {
        let mut parsed = Vec::new();
        let mut missing = Vec::new();
        for (name, text) in &xml {
            let image = |f: &Option<String>| {
                f.as_deref()
                    .and_then(|f| by_name.get(base_name(f)).copied())
                    .or_else(|| by_stem.get(stem(name)).copied())
            };
            // Dimensions from the uploaded image when the XML lacks <size>.
            let hint = by_stem.get(stem(name)).map(|i| (i.width, i.height));
            let voc = parse_voc_with_dims(text, name, hint)?;
            match image(&voc.filename) {
                Some(img) => parsed.push((img.name.clone(), voc)),
                None => missing.push(format!("{name}: no uploaded image for it")),
            }
        }
        let mut d = voc_dataset(&parsed, None);
        d.report.messages.extend(missing);
        d
    } else if !txt.is_empty() {
        let (list_name, list_text) = class_lists.first().ok_or_else(|| DataError::Layout {
            path: "upload".into(),
            message: "YOLO labels need their class list: add classes.txt, obj.names or data.yaml".into(),
        })?;
        let class_names = parse_class_names(list_text, list_name)?;
        let mut report = ValidationReport::default();
        let mut samples = Vec::new();
        for (name, text) in &txt {
            let Some(img) = by_stem.get(stem(name)) else {
                report.messages.push(format!("{name}: no uploaded image for it"));
                continue;
            };
            let annotations: Vec<BoxAnnotation> =
                parse_yolo_with_report(text, name, img.width, img.height, class_names.len(), &mut report)?;
            samples.push(SampleMeta {
                image: img.name.clone(),
                width: img.width,
                height: img.height,
                annotations,
                image_id: samples.len() as i64,
                eval_annotations: None,
            });
        }
        Dataset { category_ids: (0..class_names.len() as i64).collect(), class_names, samples, report }
    } else {
        return Err(DataError::Layout {
            path: "upload".into(),
            message: "no annotation file: add a COCO .json, Pascal VOC .xml files or YOLO .txt labels with classes.txt"
                .into(),
        });
    };
    dataset.samples.iter_mut().enumerate().for_each(|(i, s)| s.image_id = i as i64);
    Ok(dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(name: &str) -> UploadedImage {
        UploadedImage { name: name.into(), width: 100, height: 80 }
    }

    #[test]
    fn yolo_files_match_images_by_stem() {
        let files = vec![
            ("classes.txt".to_string(), "cat\ndog\n".to_string()),
            ("a.txt".to_string(), "1 0.5 0.5 0.2 0.25\n".to_string()),
            ("orphan.txt".to_string(), "0 0.5 0.5 0.2 0.2\n".to_string()),
        ];
        let d = dataset_from_uploads(&files, &[img("a.jpg")]).unwrap();
        assert_eq!(d.class_names, vec!["cat", "dog"]);
        assert_eq!(d.samples.len(), 1);
        assert_eq!(d.samples[0].annotations[0].class_id, 1);
        assert_eq!(d.samples[0].annotations[0].bbox, [40.0, 30.0, 60.0, 50.0]);
        assert!(d.report.messages.iter().any(|m| m.contains("orphan.txt")));
    }

    #[test]
    fn voc_without_size_uses_the_image_and_broken_xml_names_the_file() {
        let xml = "<annotation><filename>b.png</filename><object><name>cell</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object></annotation>";
        let d = dataset_from_uploads(&[("b.xml".into(), xml.into())], &[img("b.png")]).unwrap();
        assert_eq!(d.class_names, vec!["cell"]);
        assert_eq!(d.samples[0].annotations.len(), 1);
        let err =
            dataset_from_uploads(&[("bad.xml".into(), "<annotation><object>".into())], &[img("b.png")]).unwrap_err();
        assert!(err.to_string().contains("bad.xml"), "{err}");
    }

    #[test]
    fn nothing_to_parse_is_an_error() {
        assert!(dataset_from_uploads(&[], &[img("a.jpg")]).is_err());
        assert!(dataset_from_uploads(&[("a.txt".into(), "0 0.5 0.5 0.1 0.1".into())], &[img("a.jpg")]).is_err());
    }
}
