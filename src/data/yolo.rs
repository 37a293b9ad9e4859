//! YOLO (darknet / ultralytics) labels: one `.txt` per image with lines `class cx cy w h` (normalised to
//! [0, 1] by the image width and height), and the class list (`classes.txt`, `obj.names` or the `names:` key of
//! an ultralytics `data.yaml`).
//!
//! Follows the ultralytics label format documentation: blank lines are allowed, an image without a label file or
//! with an empty one has no objects. Boxes are converted to pixel `(x0, y0, x1, y1)` and validated like every
//! other format ([`validate_box`]). Only the simple YAML forms of `names:` are understood: a flow list
//! `names: [a, 'b c']`, a block list (`- a` lines), or an index map (`0: a` lines or `{0: a, 1: b}`).

use super::{BoxAnnotation, DataError, ValidationReport, validate_box};

/// Parses a YOLO label file of an image of `width x height` and validates its boxes; problems (clipped, empty,
/// outside boxes, class ids `>= num_classes`) are only counted in a discarded report; see
/// [`parse_yolo_with_report`] to keep it. Errors name the file and line for malformed lines.
pub fn parse_yolo(
    txt: &str,
    file: &str,
    width: u32,
    height: u32,
    num_classes: usize,
) -> Result<Vec<BoxAnnotation>, DataError> {
    parse_yolo_with_report(txt, file, width, height, num_classes, &mut ValidationReport::default())
}

/// [`parse_yolo`] recording every dropped or clipped box in `report`.
pub fn parse_yolo_with_report(
    txt: &str,
    file: &str,
    width: u32,
    height: u32,
    num_classes: usize,
    report: &mut ValidationReport,
) -> Result<Vec<BoxAnnotation>, DataError> {
    let mut out = Vec::new();
    for (i, raw) in txt.lines().enumerate() {
        let line = i + 1;
        let err = |message: String| DataError::Line { file: file.to_string(), line, message };
        let fields: Vec<&str> = raw.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != 5 {
            return Err(err(format!(
                "expected 5 values `class cx cy w h`, got {} (segmentation polygons are not supported)",
                fields.len()
            )));
        }
        let class = parse_class_id(fields[0])
            .ok_or_else(|| err(format!("class {:?} is not a non-negative integer", fields[0])))?;
        let mut v = [0f64; 4];
        for (k, (slot, s)) in v.iter_mut().zip(&fields[1..]).enumerate() {
            *slot =
                s.parse::<f64>().map_err(|_| err(format!("{} {s:?} is not a number", ["cx", "cy", "w", "h"][k])))?;
        }
        let what = format!("line {line}");
        if class >= num_classes {
            report.dropped_unknown_class += 1;
            report
                .messages
                .push(format!("{file}: {what}: class {class} is not below the {num_classes} known classes; dropped"));
            continue;
        }
        let [cx, cy, w, h] = v;
        let (fw, fh) = (width as f64, height as f64);
        let bbox = [
            ((cx - w / 2.0) * fw) as f32,
            ((cy - h / 2.0) * fh) as f32,
            ((cx + w / 2.0) * fw) as f32,
            ((cy + h / 2.0) * fh) as f32,
        ];
        if let Some(bbox) = validate_box(bbox, width, height, file, &what, report) {
            out.push(BoxAnnotation { class_id: class, bbox });
        }
    }
    Ok(out)
}

fn parse_class_id(s: &str) -> Option<usize> {
    if let Ok(c) = s.parse::<usize>() {
        return Some(c);
    }
    // some exporters write `0.0`
    let f: f64 = s.parse().ok()?;
    (f.fract() == 0.0 && (0.0..1e9).contains(&f)).then_some(f as usize)
}

/// Writes boxes of an image of `width x height` as YOLO label lines (`class cx cy w h`, 6 decimals).
pub fn to_yolo_txt(boxes: &[BoxAnnotation], width: u32, height: u32) -> String {
    let (w, h) = (width.max(1) as f64, height.max(1) as f64);
    let mut s = String::new();
    for b in boxes {
        let [x0, y0, x1, y1] = b.bbox.map(f64::from);
        s.push_str(&format!(
            "{} {:.6} {:.6} {:.6} {:.6}\n",
            b.class_id,
            (x0 + x1) / 2.0 / w,
            (y0 + y1) / 2.0 / h,
            (x1 - x0) / w,
            (y1 - y0) / h
        ));
    }
    s
}

/// Parses a class list: `classes.txt` / `obj.names` (one name per non-empty line) or a YAML file with a
/// `names:` key (`file` ending in `.yaml`/`.yml`, or any text with a top-level `names:` line). A top-level
/// `nc:` must agree with the number of names. Duplicate names are an error.
pub fn parse_class_names(text: &str, file: &str) -> Result<Vec<String>, DataError> {
    let lower = file.to_ascii_lowercase();
    let is_yaml = lower.ends_with(".yaml") || lower.ends_with(".yml") || text.lines().any(|l| l.starts_with("names:"));
    let names: Vec<(usize, String)> = if is_yaml {
        parse_yaml_names(text, file)?
    } else {
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim().to_string())).filter(|(_, l)| !l.is_empty()).collect()
    };
    if names.is_empty() {
        return Err(DataError::Line { file: file.to_string(), line: 1, message: "no class names found".to_string() });
    }
    for (k, (line, name)) in names.iter().enumerate() {
        if names[..k].iter().any(|(_, n)| n == name) {
            return Err(DataError::Line {
                file: file.to_string(),
                line: *line,
                message: format!("duplicate class name {name:?}"),
            });
        }
    }
    Ok(names.into_iter().map(|(_, n)| n).collect())
}

/// Removes a trailing ` # comment` outside quotes and surrounding whitespace.
fn strip_comment(s: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '#' && prev_space => return s[..i].trim(),
            None => {}
        }
        prev_space = c.is_whitespace();
    }
    s.trim()
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    for q in ['\'', '"'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return s[1..s.len() - 1].to_string();
        }
    }
    s.to_string()
}

/// Splits a flow sequence/map body on commas outside quotes.
fn split_flow(body: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in body.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c)
            }
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                cur.push(c)
            }
            None if c == ',' => items.push(std::mem::take(&mut cur)),
            None => cur.push(c),
        }
    }
    items.push(cur);
    items.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// `key: value` with an integer key (for the index-map forms).
fn index_entry(s: &str) -> Option<(usize, String)> {
    let (k, v) = s.split_once(':')?;
    Some((unquote(k).trim().parse().ok()?, unquote(v)))
}

fn parse_yaml_names(text: &str, file: &str) -> Result<Vec<(usize, String)>, DataError> {
    let err = |line: usize, message: String| DataError::Line { file: file.to_string(), line, message };
    let lines: Vec<&str> = text.lines().collect();
    let mut nc: Option<(usize, usize)> = None;
    let mut names: Option<Vec<(usize, String)>> = None;
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let l = lines[i];
        if let Some(rest) = l.strip_prefix("nc:") {
            let v = strip_comment(rest);
            let n = v.parse().map_err(|_| err(line_no, format!("nc: {v:?} is not a non-negative integer")))?;
            nc = Some((line_no, n));
        } else if let Some(rest) = l.strip_prefix("names:") {
            let rest = strip_comment(rest);
            let mut list = Vec::new();
            if rest.starts_with('[') || rest.starts_with('{') {
                // flow form, possibly over several lines
                let close = if rest.starts_with('[') { ']' } else { '}' };
                let mut body = rest[1..].to_string();
                while !body.trim_end().ends_with(close) {
                    i += 1;
                    let Some(next) = lines.get(i) else {
                        return Err(err(line_no, format!("names: missing closing '{close}'")));
                    };
                    body.push(' ');
                    body.push_str(strip_comment(next));
                }
                let body = body.trim_end().strip_suffix(close).unwrap_or(&body);
                for item in split_flow(body) {
                    if close == ']' {
                        list.push((line_no, unquote(&item)));
                    } else {
                        let (k, v) = index_entry(&item)
                            .ok_or_else(|| err(line_no, format!("names: expected `index: name`, got {item:?}")))?;
                        list.push((k, v));
                    }
                }
                if close == '}' {
                    list = ordered_map(list, line_no, &err)?;
                }
            } else if rest.is_empty() {
                // block form: indented `- name` or `index: name` lines
                let mut map = Vec::new();
                while i + 1 < lines.len() {
                    let next = lines[i + 1];
                    let item = strip_comment(next);
                    if item.is_empty() {
                        i += 1;
                        continue;
                    }
                    if !next.starts_with([' ', '\t', '-']) {
                        break;
                    }
                    i += 1;
                    if let Some(name) = item.strip_prefix('-') {
                        list.push((i + 1, unquote(name)));
                    } else if let Some((k, v)) = index_entry(item) {
                        map.push((k, v));
                    } else {
                        return Err(err(i + 1, format!("names: expected `- name` or `index: name`, got {item:?}")));
                    }
                }
                if !map.is_empty() {
                    if !list.is_empty() {
                        return Err(err(line_no, "names: mixes `- name` and `index: name` entries".to_string()));
                    }
                    list = ordered_map(map, line_no, &err)?;
                }
            } else {
                return Err(err(line_no, format!("names: expected a list, got {rest:?}")));
            }
            names = Some(list);
        }
        i += 1;
    }
    let names = names.ok_or_else(|| err(1, "no top-level `names:` key".to_string()))?;
    if let Some((line, n)) = nc
        && n != names.len()
    {
        return Err(err(line, format!("nc: {n} but names: lists {} classes", names.len())));
    }
    Ok(names)
}

/// Index-map entries `(index, name)` → names ordered by index; indices must be exactly `0..n`.
fn ordered_map(
    mut map: Vec<(usize, String)>,
    line: usize,
    err: &dyn Fn(usize, String) -> DataError,
) -> Result<Vec<(usize, String)>, DataError> {
    map.sort_by_key(|(k, _)| *k);
    for (expected, (k, _)) in map.iter().enumerate() {
        if *k != expected {
            return Err(err(line, format!("names: class indices must be 0..{} without gaps, found {k}", map.len())));
        }
    }
    Ok(map.into_iter().map(|(_, v)| (line, v)).collect())
}
