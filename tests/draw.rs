//! Tests of the drawing module: colours, clipping, text and robustness to bad input.

use cdetr::draw::{
    Annotation, GLYPH_H, GLYPH_W, draw_annotations, draw_text, glyph, line_width, palette, text_colour_on, text_size,
};
use image::{Rgb, RgbImage};

const GREY: [u8; 3] = [90, 90, 90];

fn grey(w: u32, h: u32) -> RgbImage {
    RgbImage::from_pixel(w, h, Rgb(GREY))
}

fn ann(bbox: [f32; 4], label: &str, class_index: usize, reference_point: Option<[f32; 2]>) -> Annotation {
    Annotation { bbox, label: label.into(), class_index, reference_point }
}

fn px(img: &RgbImage, x: u32, y: u32) -> [u8; 3] {
    img.get_pixel(x, y).0
}

#[test]
fn outline_takes_class_colour_and_inside_is_unchanged() {
    let mut img = grey(200, 200);
    let k = 3;
    draw_annotations(&mut img, &[ann([40.0, 60.0, 160.0, 180.0], "dog 0.88", k, None)]);
    let c = palette(k);
    let lw = line_width(200, 200);
    assert_eq!(lw, 2);
    // All four sides, both pixels of the 2 px stroke.
    for (x, y) in [(40, 120), (41, 120), (159, 120), (158, 120), (100, 60), (100, 61), (100, 179), (100, 178)] {
        assert_eq!(px(&img, x, y), c, "outline pixel ({x}, {y})");
    }
    // Just outside the stroke and well inside the box are untouched.
    for (x, y) in [(42, 120), (157, 120), (100, 62), (100, 177), (100, 120), (60, 150), (140, 90)] {
        assert_eq!(px(&img, x, y), GREY, "inside pixel ({x}, {y})");
    }
    // Below and to the right of the box nothing changed.
    for (x, y) in [(170, 120), (100, 190), (20, 120)] {
        assert_eq!(px(&img, x, y), GREY, "outside pixel ({x}, {y})");
    }
}

#[test]
fn label_sits_above_the_box_with_readable_text() {
    let mut img = grey(200, 200);
    let k = 5;
    draw_annotations(&mut img, &[ann([40.0, 60.0, 160.0, 180.0], "cat 0.93", k, None)]);
    let (tw, th) = text_size("cat 0.93", 1);
    let c = palette(k);
    let fg = text_colour_on(c);
    // The label rectangle ends right above the box top.
    let (x0, y0) = (40, 60 - th);
    let mut bg = 0;
    let mut fgn = 0;
    for y in y0..60 {
        for x in x0..x0 + tw {
            let p = px(&img, x, y);
            if p == c {
                bg += 1;
            } else if p == fg {
                fgn += 1;
            } else {
                panic!("label pixel ({x}, {y}) is {p:?}");
            }
        }
    }
    assert!(fgn > 20 && bg > fgn, "fg {fgn}, bg {bg}");
    assert_eq!(px(&img, x0 + tw, y0 + 3), GREY);
    assert_eq!(px(&img, x0, y0 - 1), GREY);
}

#[test]
fn label_moves_inside_when_box_touches_top() {
    let mut img = grey(120, 120);
    let k = 1;
    draw_annotations(&mut img, &[ann([10.0, 0.0, 110.0, 100.0], "person 0.99", k, None)]);
    let (tw, th) = text_size("person 0.99", 1);
    let fg = text_colour_on(palette(k));
    let inside = (10..10 + tw).flat_map(|x| (0..th).map(move |y| (x, y))).filter(|&(x, y)| px(&img, x, y) == fg);
    assert!(inside.count() > 20);
}

#[test]
fn reference_point_dot_line_and_centre_cross() {
    let mut img = grey(300, 300);
    let k = 7;
    let c = palette(k);
    // Box centre (200, 200); reference point (120, 200), so the dashed line runs along y = 200.
    draw_annotations(&mut img, &[ann([150.0, 150.0, 250.0, 250.0], "", k, Some([120.0, 200.0]))]);
    assert_eq!(px(&img, 120, 200), c, "reference point pixel");
    // The dot has radius 2 * lw = 4 and a white ring just outside it.
    assert_eq!(px(&img, 116, 200), c);
    assert_eq!(px(&img, 123, 200), c);
    assert_eq!(px(&img, 115, 200), [255, 255, 255]);
    assert_eq!(px(&img, 124, 200), [255, 255, 255]);
    assert_eq!(px(&img, 120, 195), [255, 255, 255]);
    assert_eq!(px(&img, 120, 194), GREY);
    // Centre cross in the class colour.
    assert_eq!(px(&img, 200, 200), c);
    assert_eq!(px(&img, 203, 200), c);
    assert_eq!(px(&img, 200, 197), c);
    // The line is dashed: along it there are both class-coloured and untouched pixels.
    let row: Vec<[u8; 3]> = (130..190).map(|x| px(&img, x, 200)).collect();
    assert!(row.contains(&c) && row.contains(&GREY));
    // Away from the line, cross and outline the inside is unchanged.
    for (x, y) in [(175, 175), (225, 225), (175, 225), (225, 175)] {
        assert_eq!(px(&img, x, y), GREY, "({x}, {y})");
    }
}

#[test]
fn labels_are_drawn_over_other_boxes() {
    let mut img = grey(200, 200);
    // The second box's outline crosses the first label; the label must win.
    let a = ann([20.0, 40.0, 180.0, 180.0], "WWWWWWWWWW", 0, None);
    let b = ann([30.0, 10.0, 60.0, 190.0], "", 1, None);
    draw_annotations(&mut img, &[a, b]);
    let (tw, th) = text_size("WWWWWWWWWW", 1);
    let colours = [palette(0), text_colour_on(palette(0))];
    for y in 40 - th..40 {
        for x in 20..20 + tw {
            assert!(colours.contains(&px(&img, x, y)), "({x}, {y})");
        }
    }
}

#[test]
fn draw_text_renders_foreground_inside_its_rectangle() {
    for scale in [1, 2, 3] {
        let mut img = grey(200, 60);
        let text = "Hello, DETR! 0.93 gjpqy";
        draw_text(&mut img, 5, 7, text, scale, [255, 255, 0], Some([0, 0, 128]));
        let (w, h) = text_size(text, scale);
        assert_eq!(h, (GLYPH_H + 2) * scale);
        let mut fg = 0;
        for y in 0..img.height() {
            for x in 0..img.width() {
                let p = px(&img, x, y);
                let inside = x >= 5 && x < 5 + w && y >= 7 && y < 7 + h;
                if inside {
                    assert!(p == [255, 255, 0] || p == [0, 0, 128] || x >= 200, "({x}, {y}) {p:?}");
                    fg += (p == [255, 255, 0]) as u32;
                } else {
                    assert_eq!(p, GREY, "outside ({x}, {y}) at scale {scale}");
                }
            }
        }
        assert!(fg > 50 * scale * scale, "scale {scale}: {fg} foreground pixels");
    }
    // Without a background only glyph pixels change.
    let mut img = grey(40, 20);
    draw_text(&mut img, 0, 0, "i", 1, [0, 255, 0], None);
    let changed: Vec<(u32, u32)> =
        img.enumerate_pixels().filter(|(_, _, p)| p.0 != GREY).map(|(x, y, _)| (x, y)).collect();
    let set_bits: u32 = glyph('i').iter().map(|r| r.count_ones()).sum();
    assert_eq!(changed.len() as u32, set_bits);
    assert!(changed.iter().all(|&(x, y)| (1..1 + GLYPH_W).contains(&x) && (1..1 + GLYPH_H).contains(&y)));
}

#[test]
fn text_colour_follows_luminance() {
    assert_eq!(text_colour_on([255, 255, 0]), [0, 0, 0]);
    assert_eq!(text_colour_on([0, 0, 160]), [255, 255, 255]);
    assert_eq!(text_colour_on([255, 255, 255]), [0, 0, 0]);
    assert_eq!(text_colour_on([0, 0, 0]), [255, 255, 255]);
}

#[test]
fn outside_and_nan_boxes_change_nothing() {
    let base = grey(64, 48);
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    let cases = [
        ann([nan, 10.0, 30.0, 30.0], "nan", 0, Some([10.0, 10.0])),
        ann([nan, nan, nan, nan], "nan", 1, None),
        ann([-100.0, -100.0, -10.0, -10.0], "up-left", 2, Some([-50.0, -50.0])),
        ann([100.0, 10.0, 200.0, 40.0], "right", 3, Some([150.0, 20.0])),
        ann([10.0, 60.0, 50.0, 90.0], "below", 4, None),
        ann([10.0, -1e30, 50.0, -1e20], "far above", 5, Some([30.0, -1e25])),
        ann([-inf, -inf, -1.0, -1.0], "minus inf", 6, Some([-inf, 5.0])),
    ];
    for a in &cases {
        let mut img = base.clone();
        draw_annotations(&mut img, std::slice::from_ref(a));
        assert!(img == base, "{a:?} changed the image");
    }
    let mut img = base.clone();
    draw_annotations(&mut img, &cases);
    assert!(img == base);
    draw_annotations(&mut img, &[]);
    assert!(img == base);
}

#[test]
fn degenerate_inputs_do_not_panic() {
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    let huge = "x".repeat(100_000) + "ünïcödé \u{1F600}";
    let anns = vec![
        ann([0.0, 0.0, 1.0, 1.0], &huge, usize::MAX, Some([nan, 0.0])),
        ann([-inf, -inf, inf, inf], "everything", 12345, Some([inf, -inf])),
        ann([5.0, 5.0, 5.0, 5.0], "", 0, Some([5.0, 5.0])),
        ann([30.0, 20.0, 10.0, 2.0], "swapped", 2, Some([-1e9, 1e9])),
        ann([-3e38, 0.0, 3e38, 1.0], "wide", 3, Some([0.5, 0.5])),
        ann([0.4, 0.4, 0.6, 0.6], "tiny", 4, Some([1e-30, -1e-30])),
    ];
    for (w, h) in [(0, 0), (1, 1), (1, 100), (100, 1), (2, 3), (40, 30), (1200, 900)] {
        let mut img = grey(w, h);
        draw_annotations(&mut img, &anns);
        draw_text(&mut img, i32::MIN, i32::MAX, &huge, u32::MAX, [1, 2, 3], Some([4, 5, 6]));
        draw_text(&mut img, i32::MAX, i32::MIN, &huge, 0, [1, 2, 3], None);
        draw_text(&mut img, -5, -5, "", 3, [1, 2, 3], Some([4, 5, 6]));
        draw_text(&mut img, -1000, 0, &huge, 1, [1, 2, 3], Some([4, 5, 6]));
    }
    // A 1×1 image fully covered by a box takes the class colour.
    let mut img = grey(1, 1);
    draw_annotations(&mut img, &[ann([0.0, 0.0, 1.0, 1.0], "", 9, None)]);
    assert_eq!(px(&img, 0, 0), palette(9));
}

#[test]
fn big_images_use_thicker_lines() {
    assert_eq!(line_width(640, 480), 2);
    assert_eq!(line_width(1920, 1080), 4);
    let mut img = grey(1000, 1000);
    draw_annotations(&mut img, &[ann([100.0, 100.0, 900.0, 900.0], "", 0, None)]);
    assert_eq!(px(&img, 103, 500), palette(0));
    assert_eq!(px(&img, 104, 500), GREY);
}

#[test]
fn palette_is_distinct_saturated_and_deterministic() {
    let colours: Vec<[u8; 3]> = (0..20).map(palette).collect();
    for (i, a) in colours.iter().enumerate() {
        assert_eq!(*a, palette(i));
        let (mx, mn) = (*a.iter().max().unwrap() as i32, *a.iter().min().unwrap() as i32);
        assert!(mx >= 180 && mx - mn >= 120, "class {i}: {a:?} is not saturated");
        for (j, b) in colours.iter().enumerate().skip(i + 1) {
            let d2: i32 = a.iter().zip(b).map(|(&p, &q)| (p as i32 - q as i32).pow(2)).sum();
            assert!(d2 >= 40 * 40, "classes {i} and {j} look alike: {a:?} {b:?}");
        }
    }
    let _ = palette(usize::MAX);
}

#[test]
fn glyph_table_covers_printable_ascii() {
    assert!(glyph(' ').iter().all(|&r| r == 0));
    let mut seen = std::collections::HashSet::new();
    for code in 33u8..=126 {
        let g = glyph(code as char);
        assert!(g.iter().any(|&r| r != 0), "glyph {:?} is blank", code as char);
        assert!(g.iter().all(|&r| r < 1 << GLYPH_W));
        assert!(seen.insert(*g), "glyph {:?} duplicates another", code as char);
    }
    let boxed = glyph('é');
    assert_eq!(glyph('\u{1F600}'), boxed);
    assert_eq!(glyph('\n'), boxed);
    assert_eq!(glyph('\u{7f}'), boxed);
    assert!(!seen.contains(boxed), "the box glyph must differ from every ASCII glyph");
}

/// Writes a demo image (to the temp folder, `draw_demo.png`) to look at by eye.
#[test]
fn demo_png() {
    let (w, h) = (640u32, 480u32);
    let mut img = RgbImage::from_fn(w, h, |x, y| {
        let fx = x as f32 / w as f32;
        let fy = y as f32 / h as f32;
        Rgb([(40.0 + 180.0 * fx) as u8, (60.0 + 150.0 * fy) as u8, (200.0 - 120.0 * fx * fy) as u8])
    });
    let anns = vec![
        ann([60.0, 120.0, 300.0, 420.0], "person 0.98", 0, Some([150.0, 230.0])),
        ann([220.0, 200.0, 460.0, 380.0], "dog 0.91", 17, Some([360.0, 320.0])),
        ann([400.0, 0.0, 630.0, 150.0], "kite 0.77 (top edge)", 37, Some([470.0, 40.0])),
        ann([500.0, 300.0, 700.0, 520.0], "a very long label that runs off the side 0.51", 3, Some([560.0, 380.0])),
        ann([-40.0, 10.0, 120.0, 90.0], "clipped 0.60", 8, Some([20.0, 60.0])),
        ann([330.0, 60.0, 380.0, 110.0], "café ✓ 0.40", 5, Some([300.0, 150.0])),
        ann([f32::NAN, 0.0, 10.0, 10.0], "nan box", 1, None),
    ];
    draw_annotations(&mut img, &anns);
    let sample: String = (32u8..=126).map(|c| c as char).collect();
    let (a, b) = sample.split_at(48);
    draw_text(&mut img, 4, 430, a, 1, [255, 255, 255], Some([0, 0, 0]));
    draw_text(&mut img, 4, 442, b, 1, [255, 255, 255], Some([0, 0, 0]));
    draw_text(&mut img, 300, 428, "Scale 2: gjpqy 0.93", 2, [0, 0, 0], None);
    let out = std::env::temp_dir().join("draw_demo.png");
    img.save(&out).unwrap();
}
