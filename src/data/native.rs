//! Native-only (std::fs) dataset loading: finds the annotation files of a COCO, Pascal VOC or YOLO folder,
//! parses them with the platform-free parsers of [`crate::data`], and reads images.
//!
//! Layouts follow the usual conventions of each format (COCO `annotations/instances_*.json` with image folders
//! beside; VOCdevkit `Annotations/`, `JPEGImages/`, `ImageSets/Main/{split}.txt`; ultralytics/Roboflow YOLO
//! `images/`, `labels/`, `data.yaml`/`classes.txt`). Compiled only outside WebAssembly.

use std::path::{Path, PathBuf};

use image::RgbImage;

use super::{DataError, DataFormat, Dataset, SampleMeta, ValidationReport};
use super::{
    parse_class_names, parse_coco_with_dims, parse_voc, parse_voc_with_dims, parse_yolo_with_report, to_coco_json,
    voc_dataset,
};

/// Image file extensions that can be decoded (the `image` crate is built with PNG and JPEG only).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

fn io_err(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Io { path: path.display().to_string(), message: e.to_string() }
}

fn layout_err(path: &Path, message: impl Into<String>) -> DataError {
    DataError::Layout { path: path.display().to_string(), message: message.into() }
}

fn read_text(path: &Path) -> Result<String, DataError> {
    std::fs::read_to_string(path).map_err(|e| io_err(path, e))
}

/// Sorted entries of a folder.
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        out.push(entry.map_err(|e| io_err(dir, e))?.path());
    }
    out.sort();
    Ok(out)
}

fn has_ext(path: &Path, exts: &[&str]) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| exts.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn files_with_ext(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>, DataError> {
    Ok(list_dir(dir)?.into_iter().filter(|p| p.is_file() && has_ext(p, exts)).collect())
}

/// `path` relative to `root` with `/` separators (for messages and `SampleMeta::image`).
fn rel(path: &Path, root: &Path) -> String {
    let r = path.strip_prefix(root).unwrap_or(path);
    r.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Reads an image file as RGB (alpha dropped, grey expanded). The format is detected from the content.
pub fn load_image(path: &Path) -> Result<RgbImage, DataError> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    super::decode_image(&bytes, &path.display().to_string())
}

/// `(width, height)` from the image header, without decoding the pixels.
pub fn image_size(path: &Path) -> Result<(u32, u32), DataError> {
    if !path.is_file() {
        return Err(io_err(path, "file not found"));
    }
    image::image_dimensions(path)
        .map_err(|e| DataError::Image { path: path.display().to_string(), message: e.to_string() })
}

/// [`load_dataset_split`] without a split (all annotated images).
pub fn load_dataset(path: &Path, format: Option<DataFormat>) -> Result<(Dataset, PathBuf), DataError> {
    load_dataset_split(path, format, None)
}

/// Loads a dataset folder or annotation file; returns the dataset and the folder its `SampleMeta::image`
/// paths are relative to. `format = None` detects it ([`detect_format`]). `split` (e.g. `"train"`) selects:
/// COCO: the JSON whose name contains it (`instances_train2017.json`) or the `{split}/` folder (Roboflow);
/// VOC: `ImageSets/Main/{split}.txt`; YOLO: `images/{split}/` or `{split}/images/`.
pub fn load_dataset_split(
    path: &Path,
    format: Option<DataFormat>,
    split: Option<&str>,
) -> Result<(Dataset, PathBuf), DataError> {
    if !path.exists() {
        return Err(io_err(path, "no such file or folder"));
    }
    let format = match format {
        Some(f) => f,
        None => detect_format(path, split)?,
    };
    match format {
        DataFormat::Coco => load_coco(path, split),
        DataFormat::Voc => load_voc(path, split),
        DataFormat::Yolo => load_yolo(path, split),
    }
}

/// Guesses the format of a dataset path: `.json` file or a folder with a COCO JSON -> COCO; `Annotations/`
/// or `*.xml` files -> VOC; `labels/`, `data.yaml`, `classes.txt`, `obj.names` or a `.yaml` file -> YOLO.
pub fn detect_format(path: &Path, split: Option<&str>) -> Result<DataFormat, DataError> {
    if path.is_file() {
        return if has_ext(path, &["json"]) {
            Ok(DataFormat::Coco)
        } else if has_ext(path, &["yaml", "yml", "names", "txt"]) {
            Ok(DataFormat::Yolo)
        } else {
            Err(layout_err(path, "expected a COCO .json, a YOLO data.yaml/classes.txt, or a dataset folder"))
        };
    }
    if path.join("Annotations").is_dir() {
        return Ok(DataFormat::Voc);
    }
    if path.join("labels").is_dir() || yolo_class_file(path).is_some() {
        return Ok(DataFormat::Yolo);
    }
    if let Some(s) = split
        && path.join(s).join("labels").is_dir()
    {
        return Ok(DataFormat::Yolo);
    }
    if find_coco_json(path, split).is_ok() {
        return Ok(DataFormat::Coco);
    }
    if !files_with_ext(path, &["xml"])?.is_empty() {
        return Ok(DataFormat::Voc);
    }
    Err(layout_err(
        path,
        "cannot tell the dataset format: expected a COCO .json (or annotations/*.json), a VOC Annotations/ folder, \
         or a YOLO labels/ folder with data.yaml or classes.txt",
    ))
}

// ---------------------------------------------------------------------------------------------------------
// COCO
// ---------------------------------------------------------------------------------------------------------

/// Whether a JSON file has COCO's `images` and `annotations` keys (files over 64 MiB are taken to be COCO
/// without reading them).
fn looks_like_coco(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(m) if m.len() > 64 << 20 => true,
        Ok(_) => std::fs::read_to_string(path).is_ok_and(|t| t.contains("\"images\"") && t.contains("\"annotations\"")),
        Err(_) => false,
    }
}

fn find_coco_json(dir: &Path, split: Option<&str>) -> Result<PathBuf, DataError> {
    if dir.is_file() {
        return Ok(dir.to_path_buf());
    }
    let mut candidates = files_with_ext(dir, &["json"])?;
    if dir.join("annotations").is_dir() {
        candidates.extend(files_with_ext(&dir.join("annotations"), &["json"])?);
    }
    if let Some(s) = split {
        if dir.join(s).is_dir() {
            candidates.extend(files_with_ext(&dir.join(s), &["json"])?);
        }
        let name_has = |p: &PathBuf, s: &str| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(s))
                || p.parent().and_then(|d| d.file_name()).and_then(|n| n.to_str()) == Some(s)
        };
        candidates.retain(|p| name_has(p, s));
        // prefer detection annotations over captions/keypoints files of the same split
        if candidates.len() > 1 {
            let instances: Vec<PathBuf> = candidates
                .iter()
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("instances")))
                .cloned()
                .collect();
            if instances.len() == 1 {
                candidates = instances;
            }
        }
    } else if candidates.len() > 1 {
        let preferred: Vec<PathBuf> = candidates
            .iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n == "annotations.json" || n == "_annotations.coco.json")
            })
            .cloned()
            .collect();
        if preferred.len() == 1 {
            candidates = preferred;
        }
    }
    if candidates.len() > 1 {
        // Other JSON beside the annotations (a model's config.json, metrics): only COCO files count.
        let coco: Vec<PathBuf> = candidates.iter().filter(|p| looks_like_coco(p)).cloned().collect();
        if !coco.is_empty() {
            candidates = coco;
        }
    }
    match candidates.len() {
        1 => Ok(candidates.remove(0)),
        0 => Err(layout_err(
            dir,
            match split {
                Some(s) => format!("no COCO .json for split {s:?} here or in annotations/ or {s}/"),
                None => "no COCO .json here or in annotations/".to_string(),
            },
        )),
        _ => Err(layout_err(
            dir,
            format!(
                "several COCO .json files ({}); give the file itself or a split",
                candidates.iter().map(|p| rel(p, dir)).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

fn load_coco(path: &Path, split: Option<&str>) -> Result<(Dataset, PathBuf), DataError> {
    let json_path = find_coco_json(path, split)?;
    let base = if path.is_dir() { path } else { json_path.parent().unwrap_or(Path::new(".")) };
    let name = rel(&json_path, base);
    let json_dir = json_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    // where the images are: beside the JSON, in images/, or (COCO layout) in ../{val2017|train2017}/
    let stem = json_path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let split_dir = stem.strip_prefix("instances_").unwrap_or(stem);
    let parent = json_dir.parent().map(Path::to_path_buf).unwrap_or_else(|| json_dir.clone());
    let mut roots = vec![
        json_dir.clone(),
        json_dir.join("images"),
        parent.join(split_dir),
        parent.join("images").join(split_dir),
        parent.join("images"),
        parent.clone(),
    ];
    if let Some(s) = split {
        roots.push(json_dir.join("images").join(s));
        roots.push(parent.join(s));
    }
    // An image without width/height in the JSON: its size from the file.
    let dims = |file_name: &str| roots.iter().find_map(|r| image_size(&r.join(file_name)).ok());
    let dataset = parse_coco_with_dims(&read_text(&json_path)?, &name, &dims)?;
    let Some(first) = dataset.samples.first() else {
        return Ok((dataset, json_dir));
    };
    match roots.iter().find(|r| r.join(&first.image).is_file()) {
        Some(root) => Ok((dataset, root.clone())),
        None => Err(layout_err(
            &json_path,
            format!(
                "cannot find image {:?}; looked in {}",
                first.image,
                roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// Writes `dataset` as COCO (`annotations.json` + `images/` with PNG files named by `SampleMeta::image`) into
/// `dir`, e.g. to export the synthetic dataset; [`load_dataset`] reads it back. Returns the JSON path.
pub fn write_coco_dataset(dir: &Path, dataset: &Dataset, images: &[RgbImage]) -> Result<PathBuf, DataError> {
    let image_dir = dir.join("images");
    std::fs::create_dir_all(&image_dir).map_err(|e| io_err(&image_dir, e))?;
    for (sample, img) in dataset.samples.iter().zip(images) {
        let p = image_dir.join(&sample.image);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        }
        img.save_with_format(&p, image::ImageFormat::Png).map_err(|e| io_err(&p, e))?;
    }
    let json_path = dir.join("annotations.json");
    std::fs::write(&json_path, to_coco_json(dataset)).map_err(|e| io_err(&json_path, e))?;
    Ok(json_path)
}

// ---------------------------------------------------------------------------------------------------------
// VOC
// ---------------------------------------------------------------------------------------------------------

fn load_voc(path: &Path, split: Option<&str>) -> Result<(Dataset, PathBuf), DataError> {
    if path.is_file() {
        return Err(layout_err(path, "a VOC dataset is a folder (with Annotations/ and JPEGImages/)"));
    }
    let (ann_dir, image_dir) = if path.join("Annotations").is_dir() {
        (path.join("Annotations"), path.join("JPEGImages"))
    } else {
        (path.to_path_buf(), path.to_path_buf()) // flat: XML files beside the images
    };
    let xml_files: Vec<PathBuf> = match split {
        Some(s) => {
            let list = path.join("ImageSets").join("Main").join(format!("{s}.txt"));
            if !list.is_file() {
                let available: Vec<String> = files_with_ext(&path.join("ImageSets").join("Main"), &["txt"])
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|p| p.file_stem().and_then(|n| n.to_str()).map(str::to_string))
                    .collect();
                return Err(layout_err(
                    &list,
                    format!(
                        "split {s:?} not found (available: {})",
                        if available.is_empty() { "none".to_string() } else { available.join(", ") }
                    ),
                ));
            }
            read_text(&list)?
                .lines()
                .filter_map(|l| l.split_whitespace().next())
                .map(|id| ann_dir.join(format!("{id}.xml")))
                .collect()
        }
        None => files_with_ext(&ann_dir, &["xml"])?,
    };
    if xml_files.is_empty() {
        return Err(layout_err(&ann_dir, "no VOC .xml annotation files"));
    }
    let mut parsed = Vec::with_capacity(xml_files.len());
    for xml_path in &xml_files {
        let name = rel(xml_path, path);
        let xml = read_text(xml_path)?;
        let stem = xml_path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        let mut voc = match parse_voc(&xml, &name) {
            Ok(v) => v,
            // no <size>: read it from the image
            Err(DataError::Field { field, .. }) if field == "annotation/size" => {
                let filename = voc_filename(&xml);
                let img = find_voc_image(&image_dir, filename.as_deref(), &stem).ok_or_else(|| {
                    layout_err(xml_path, format!("no <size> and no image for it in {}", image_dir.display()))
                })?;
                let dims = image_size(&img)?;
                parse_voc_with_dims(&xml, &name, Some(dims))?
            }
            Err(e) => return Err(e),
        };
        let img = find_voc_image(&image_dir, voc.filename.as_deref(), &stem).ok_or_else(|| {
            layout_err(
                xml_path,
                format!(
                    "image not found in {} (tried <filename> {:?} and {stem}.jpg/.jpeg/.png)",
                    image_dir.display(),
                    voc.filename.as_deref().unwrap_or("")
                ),
            )
        })?;
        voc.filename = Some(rel(&img, &image_dir));
        parsed.push((name, voc));
    }
    Ok((voc_dataset(&parsed, None), image_dir))
}

/// `<filename>` of a VOC file that failed to parse fully (used only to locate the image).
fn voc_filename(xml: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let n = doc.root_element().children().find(|n| n.has_tag_name("filename"))?;
    n.text().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

fn find_voc_image(image_dir: &Path, filename: Option<&str>, stem: &str) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(f) = filename {
        candidates.push(image_dir.join(f));
    }
    for ext in ["jpg", "jpeg", "png", "JPG", "JPEG", "PNG"] {
        candidates.push(image_dir.join(format!("{stem}.{ext}")));
    }
    candidates.into_iter().find(|p| p.is_file())
}

// ---------------------------------------------------------------------------------------------------------
// YOLO
// ---------------------------------------------------------------------------------------------------------

/// The class list file of a YOLO root, if any.
fn yolo_class_file(root: &Path) -> Option<PathBuf> {
    for name in
        ["data.yaml", "dataset.yaml", "data.yml", "classes.txt", "obj.names", "labels/classes.txt", "classes.names"]
    {
        let p = root.join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    let files = files_with_ext(root, &["yaml", "yml", "names"]).ok()?;
    files.into_iter().find(|p| {
        !has_ext(p, &["yaml", "yml"])
            || std::fs::read_to_string(p).is_ok_and(|t| t.lines().any(|l| l.starts_with("names:")))
    })
}

/// Image files under `dir`, recursively, sorted by path.
fn images_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    for p in list_dir(dir)? {
        if p.is_dir() {
            images_under(&p, out)?;
        } else if has_ext(&p, &IMAGE_EXTENSIONS) {
            out.push(p);
        }
    }
    Ok(())
}

fn load_yolo(path: &Path, split: Option<&str>) -> Result<(Dataset, PathBuf), DataError> {
    let (root, class_file) = if path.is_file() {
        (path.parent().unwrap_or(Path::new(".")).to_path_buf(), path.to_path_buf())
    } else {
        let class_file = yolo_class_file(path).ok_or_else(|| {
            layout_err(path, "YOLO dataset without a class list (data.yaml, classes.txt or obj.names)")
        })?;
        (path.to_path_buf(), class_file)
    };
    let class_names = parse_class_names(&read_text(&class_file)?, &rel(&class_file, &root))?;

    // images/{split}, {split}/images, images/, or the root itself (darknet: labels beside images)
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(s) = split {
        dirs.push(root.join("images").join(s));
        dirs.push(root.join(s).join("images"));
        dirs.push(root.join(s));
    } else {
        dirs.push(root.join("images"));
        dirs.push(root.clone());
    }
    let image_dir = dirs.iter().find(|d| d.is_dir()).cloned().ok_or_else(|| {
        layout_err(
            &root,
            format!(
                "no image folder (looked for {})",
                dirs.iter().map(|d| rel(d, &root)).collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let mut images = Vec::new();
    images_under(&image_dir, &mut images)?;
    if images.is_empty() {
        return Err(layout_err(&image_dir, "no .jpg/.jpeg/.png images"));
    }

    let mut report = ValidationReport::default();
    let mut samples = Vec::with_capacity(images.len());
    for (i, img) in images.iter().enumerate() {
        let (width, height) = image_size(img)?;
        let label = yolo_label_path(img, &root);
        let annotations = match label.filter(|l| l.is_file()) {
            Some(l) => {
                parse_yolo_with_report(&read_text(&l)?, &rel(&l, &root), width, height, class_names.len(), &mut report)?
            }
            None => Vec::new(), // no label file: an image without objects
        };
        samples.push(SampleMeta {
            image: rel(img, &image_dir),
            width,
            height,
            annotations,
            image_id: i as i64,
            eval_annotations: None,
        });
    }
    let dataset = Dataset { category_ids: (0..class_names.len() as i64).collect(), class_names, samples, report };
    Ok((dataset, image_dir))
}

/// The label file of an image: the last `images` folder of its path replaced by `labels` (ultralytics
/// convention), else the `.txt` beside the image (darknet).
fn yolo_label_path(img: &Path, root: &Path) -> Option<PathBuf> {
    let relative = img.strip_prefix(root).ok()?;
    let parts: Vec<_> = relative.components().map(|c| c.as_os_str().to_os_string()).collect();
    if let Some(k) = parts.iter().rposition(|c| c == "images") {
        let mut p = root.to_path_buf();
        for (j, c) in parts.iter().enumerate() {
            p.push(if j == k { std::ffi::OsStr::new("labels") } else { c.as_os_str() });
        }
        let p = p.with_extension("txt");
        if p.is_file() {
            return Some(p);
        }
    }
    Some(img.with_extension("txt"))
}
