//! Drawing detections onto images: the `--draw` output of `cdetr detect` and the browser preview.
//!
//! Each [`Annotation`] is drawn the way Conditional DETR thinks about a detection: the decoder query owns a
//! *reference point*, and the box centre is predicted as an offset from it. So besides the box outline and
//! a label, the reference point is drawn as a filled dot with a white ring, joined to the box centre (a small
//! cross) by a dashed line. Boxes go down first, then reference points and their lines, then every label on
//! top, so labels stay readable where boxes overlap.
//!
//! Text uses a small built-in bitmap font (5×7 glyphs with two descender rows, printable ASCII 32..=126;
//! anything else draws as a hollow box), scaled by whole pixels. Everything is clipped to the image, and no
//! input panics: boxes outside the image, NaN or infinite coordinates, empty or huge labels, tiny or empty
//! images. The module does no I/O and uses no threads or clocks, so it builds for `wasm32-unknown-unknown`.

use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

/// What to draw for one detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// Box corners `[x0, y0, x1, y1]` in pixels (`x1`, `y1` exclusive). Swapped corners are accepted; a box
    /// with a non-finite coordinate is skipped.
    pub bbox: [f32; 4],
    /// Label text, e.g. `"cat 0.93"`; empty for no label.
    pub label: String,
    /// Picks the colour through [`palette`].
    pub class_index: usize,
    /// The query's reference point `[x, y]` in pixels, if known.
    pub reference_point: Option<[f32; 2]>,
}

/// Glyph width in font pixels.
pub const GLYPH_W: u32 = 5;
/// Glyph cell height in font pixels: 7 rows down to the baseline, then 2 descender rows.
pub const GLYPH_H: u32 = 9;
/// Horizontal advance per character in font pixels (glyph plus one blank column).
pub const ADVANCE: u32 = GLYPH_W + 1;
/// Padding, in font pixels, around text drawn on a background.
const PAD: u32 = 1;

/// The font, drawn by hand: six bands of sixteen glyphs (codes 32..=127), each glyph 5 columns × 9 rows
/// (`#` on, `.` off), glyphs separated by one space. Slot 127 is the box drawn for characters outside
/// printable ASCII.
#[rustfmt::skip]
const FONT_ART: [&str; 54] = [
    //   ␠     !     "     #     $     %     &     '     (     )     *     +     ,     -     .     /
    "..... ..#.. .#.#. .#.#. ..#.. ##... .##.. ..#.. ...#. .#... ..... ..... ..... ..... ..... .....",
    "..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#.. ..#.. ..#.. ..#.. ..#.. ..... ..... ..... ....#",
    "..... ..#.. .#.#. ##### #.#.. ...#. #.#.. .#... .#... ...#. #.#.# ..#.. ..... ..... ..... ...#.",
    "..... ..#.. ..... .#.#. .###. ..#.. .#... ..... .#... ...#. .###. ##### ..... ##### ..... ..#..",
    "..... ..#.. ..... ##### ..#.# .#... #.#.# ..... .#... ...#. #.#.# ..#.. ..... ..... ..... .#...",
    "..... ..... ..... .#.#. ####. #..## #..#. ..... ..#.. ..#.. ..#.. ..#.. .##.. ..... .##.. #....",
    "..... ..#.. ..... .#.#. ..#.. ...## .##.# ..... ...#. .#... ..... ..... ..#.. ..... .##.. .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .#... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    //   0     1     2     3     4     5     6     7     8     9     :     ;     <     =     >     ?
    ".###. ..#.. .###. ##### ...#. ##### ..##. ##### .###. .###. ..... ..... ...#. ..... .#... .###.",
    "#...# .##.. #...# ...#. ..##. #.... .#... ....# #...# #...# .##.. .##.. ..#.. ..... ..#.. #...#",
    "#..## ..#.. ....# ..#.. .#.#. ####. #.... ...#. #...# #...# .##.. .##.. .#... ##### ...#. ....#",
    "#.#.# ..#.. ...#. ...#. #..#. ....# ####. ..#.. .###. .#### ..... ..... #.... ..... ....# ...#.",
    "##..# ..#.. ..#.. ....# ##### ....# #...# .#... #...# ....# .##.. .##.. .#... ##### ...#. ..#..",
    "#...# ..#.. .#... #...# ...#. #...# #...# .#... #...# ...#. .##.. ..#.. ..#.. ..... ..#.. .....",
    ".###. .###. ##### .###. ...#. .###. .###. .#... .###. .##.. ..... .#... ...#. ..... .#... ..#..",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    //   @     A     B     C     D     E     F     G     H     I     J     K     L     M     N     O
    ".###. .###. ####. .###. ###.. ##### ##### .###. #...# .###. ..### #...# #.... #...# #...# .###.",
    "#...# #...# #...# #...# #..#. #.... #.... #...# #...# ..#.. ...#. #..#. #.... ##.## #...# #...#",
    "#.### #...# #...# #.... #...# #.... #.... #.... #...# ..#.. ...#. #.#.. #.... #.#.# ##..# #...#",
    "#.#.# ##### ####. #.... #...# ####. ####. #.### ##### ..#.. ...#. ##... #.... #.#.# #.#.# #...#",
    "#.### #...# #...# #.... #...# #.... #.... #...# #...# ..#.. ...#. #.#.. #.... #...# #..## #...#",
    "#.... #...# #...# #...# #..#. #.... #.... #...# #...# ..#.. #..#. #..#. #.... #...# #...# #...#",
    ".#### #...# ####. .###. ###.. ##### #.... .#### #...# .###. .##.. #...# ##### #...# #...# .###.",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    //   P     Q     R     S     T     U     V     W     X     Y     Z     [     \     ]     ^     _
    "####. .###. ####. .#### ##### #...# #...# #...# #...# #...# ##### .###. ..... .###. ..#.. .....",
    "#...# #...# #...# #.... ..#.. #...# #...# #...# #...# #...# ....# .#... #.... ...#. .#.#. .....",
    "#...# #...# #...# #.... ..#.. #...# #...# #...# .#.#. .#.#. ...#. .#... .#... ...#. #...# .....",
    "####. #...# ####. .###. ..#.. #...# #...# #.#.# ..#.. ..#.. ..#.. .#... ..#.. ...#. ..... .....",
    "#.... #.#.# #.#.. ....# ..#.. #...# #...# #.#.# .#.#. ..#.. .#... .#... ...#. ...#. ..... .....",
    "#.... #..#. #..#. ....# ..#.. #...# .#.#. #.#.# #...# ..#.. #.... .#... ....# ...#. ..... .....",
    "#.... .##.# #...# ####. ..#.. .###. ..#.. .#.#. #...# ..#.. ##### .###. ..... .###. ..... .....",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... #####",
    "..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....",
    //   `     a     b     c     d     e     f     g     h     i     j     k     l     m     n     o
    ".#... ..... #.... ..... ....# ..... ..##. ..... #.... ..#.. ...#. #.... .##.. ..... ..... .....",
    "..#.. ..... #.... ..... ....# ..... .#..# ..... #.... ..... ..... #.... ..#.. ..... ..... .....",
    "...#. .###. #.##. .###. .##.# .###. .#... .#### #.##. .##.. ..##. #..#. ..#.. ##.#. #.##. .###.",
    "..... ....# ##..# #.... #..## #...# ###.. #...# ##..# ..#.. ...#. #.#.. ..#.. #.#.# ##..# #...#",
    "..... .#### #...# #.... #...# ##### .#... #...# #...# ..#.. ...#. ##... ..#.. #.#.# #...# #...#",
    "..... #...# #...# #...# #...# #.... .#... #...# #...# ..#.. ...#. #.#.. ..#.. #.#.# #...# #...#",
    "..... .#### ####. .###. .#### .###. .#... .#### #...# .###. ...#. #..#. .###. #.#.# #...# .###.",
    "..... ..... ..... ..... ..... ..... ..... ....# ..... ..... #..#. ..... ..... ..... ..... .....",
    "..... ..... ..... ..... ..... ..... ..... .###. ..... ..... .##.. ..... ..... ..... ..... .....",
    //   p     q     r     s     t     u     v     w     x     y     z     {     |     }     ~     □
    "..... ..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ...#. ..#.. .#... ..... #####",
    "..... ..... ..... ..... .#... ..... ..... ..... ..... ..... ..... ..#.. ..#.. ..#.. ..... #...#",
    "####. .#### #.##. .#### ###.. #...# #...# #...# #...# #...# ##### ..#.. ..#.. ..#.. .#... #...#",
    "#...# #...# ##..# #.... .#... #...# #...# #...# .#.#. #...# ...#. .#... ..#.. ...#. #.#.# #...#",
    "#...# #...# #.... .###. .#... #...# #...# #.#.# ..#.. #...# ..#.. ..#.. ..#.. ..#.. ...#. #...#",
    "#...# #...# #.... ....# .#..# #..## .#.#. #.#.# .#.#. #...# .#... ..#.. ..#.. ..#.. ..... #...#",
    "####. .#### #.... ####. ..##. .##.# ..#.. .#.#. #...# .#### ##### ...#. ..#.. .#... ..... #...#",
    "#.... ....# ..... ..... ..... ..... ..... ..... ..... ....# ..... ..... ..... ..... ..... #...#",
    "#.... ....# ..... ..... ..... ..... ..... ..... ..... .###. ..... ..... ..... ..... ..... #####",
];

const GLYPHS_PER_BAND: usize = 16;
const GLYPH_COUNT: usize = 96;
const BOX_GLYPH: usize = 95;

/// Turns [`FONT_ART`] into one row bitmask per glyph row (bit 4 = leftmost column); checked at compile time.
const fn build_font() -> [[u8; GLYPH_H as usize]; GLYPH_COUNT] {
    let mut font = [[0u8; GLYPH_H as usize]; GLYPH_COUNT];
    let line_len = GLYPHS_PER_BAND * (GLYPH_W as usize + 1) - 1;
    let mut g = 0;
    while g < GLYPH_COUNT {
        let band = g / GLYPHS_PER_BAND;
        let start = (g % GLYPHS_PER_BAND) * (GLYPH_W as usize + 1);
        let mut row = 0;
        while row < GLYPH_H as usize {
            let line = FONT_ART[band * GLYPH_H as usize + row].as_bytes();
            assert!(line.len() == line_len, "font art line has the wrong length");
            let mut bits = 0u8;
            let mut col = 0;
            while col < GLYPH_W as usize {
                match line[start + col] {
                    b'#' => bits |= 1 << (GLYPH_W as usize - 1 - col),
                    b'.' => {}
                    _ => panic!("font art may hold only '#' and '.'"),
                }
                col += 1;
            }
            assert!(start + GLYPH_W as usize == line_len || line[start + GLYPH_W as usize] == b' ');
            font[g][row] = bits;
            row += 1;
        }
        g += 1;
    }
    font
}

static FONT: [[u8; GLYPH_H as usize]; GLYPH_COUNT] = build_font();

/// The bitmap of `c`: one byte per row, top row first, bit 4 the leftmost column. Characters outside
/// printable ASCII (32..=126) give the box glyph.
pub fn glyph(c: char) -> &'static [u8; GLYPH_H as usize] {
    let code = c as u32;
    let index = if (32..=126).contains(&code) { (code - 32) as usize } else { BOX_GLYPH };
    &FONT[index]
}

/// A distinct, saturated colour for a class: golden-ratio steps around the hue circle, with the value and
/// saturation cycling so that neighbouring hues still differ. Deterministic.
pub fn palette(class_index: usize) -> [u8; 3] {
    // Hue steps by 1/φ of a turn; taking class_index mod 2^32 keeps the fractional part precise in f64.
    let k = (class_index as u64 & 0xffff_ffff) as f64;
    let hue = (0.02 + k * 0.618_033_988_749_895).fract();
    let (sat, val) = match class_index % 3 {
        0 => (0.90, 1.00),
        1 => (1.00, 0.78),
        _ => (0.70, 0.92),
    };
    hsv_to_rgb(hue, sat, val)
}

fn hsv_to_rgb(h: f64, s: f64, v: f64) -> [u8; 3] {
    let h6 = h * 6.0;
    let sector = (h6.floor() as i64).rem_euclid(6);
    let f = h6 - h6.floor();
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - s * f), v * (1.0 - s * (1.0 - f)));
    let (r, g, b) = match sector {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    let to_u8 = |x: f64| (x * 255.0).round().clamp(0.0, 255.0) as u8;
    [to_u8(r), to_u8(g), to_u8(b)]
}

/// White or black, whichever reads better on `bg` (WCAG relative luminance, crossover at 0.179).
pub fn text_colour_on(bg: [u8; 3]) -> [u8; 3] {
    let lin = |c: u8| {
        let c = c as f32 / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    let lum = 0.2126 * lin(bg[0]) + 0.7152 * lin(bg[1]) + 0.0722 * lin(bg[2]);
    if lum > 0.179 { [0, 0, 0] } else { [255, 255, 255] }
}

/// Box outline width for an image: `max(2, min(w, h) / 250)` pixels.
pub fn line_width(width: u32, height: u32) -> u32 {
    (width.min(height) / 250).max(2)
}

/// Label text scale for an image: 1 below about 480 px on the short side, then one step per 320 px.
pub fn text_scale(width: u32, height: u32) -> u32 {
    ((width.min(height) as u64 + 160) / 320).clamp(1, 16) as u32
}

/// Size in pixels of the rectangle [`draw_text`] fills for `text` (glyph cells plus one font pixel of
/// padding all round); `(0, 0)` for empty text. Saturates instead of overflowing.
pub fn text_size(text: &str, scale: u32) -> (u32, u32) {
    let n = text.chars().count() as u64;
    if n == 0 {
        return (0, 0);
    }
    let s = scale.max(1) as u64;
    let w = (n.saturating_mul(ADVANCE as u64).saturating_add(PAD as u64)).saturating_mul(s);
    let h = ((GLYPH_H + 2 * PAD) as u64) * s;
    (w.min(u32::MAX as u64) as u32, h.min(u32::MAX as u64) as u32)
}

/// Draws one line of `text` with its rectangle's top-left corner at `(x, y)`, each font pixel `scale × scale`
/// image pixels (0 counts as 1). With `bg`, the [`text_size`] rectangle is filled first; without, only the
/// glyph pixels are written. Clipped to the image.
pub fn draw_text(img: &mut RgbImage, x: i32, y: i32, text: &str, scale: u32, fg: [u8; 3], bg: Option<[u8; 3]>) {
    let s = scale.max(1) as i64;
    let (x, y) = (x as i64, y as i64);
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    if let Some(bg) = bg {
        let (w, h) = text_size(text, scale);
        fill_rect(img, x, y, x + w as i64, y + h as i64, bg);
    }
    let top = y + PAD as i64 * s;
    if top >= ih || top + GLYPH_H as i64 * s <= 0 {
        return;
    }
    let advance = ADVANCE as i64 * s;
    let mut left = x + PAD as i64 * s;
    for c in text.chars() {
        if left >= iw {
            break; // the rest of the line is off the right edge
        }
        if left + GLYPH_W as i64 * s > 0 {
            for (row, bits) in glyph(c).iter().enumerate() {
                let py = top + row as i64 * s;
                for col in 0..GLYPH_W as i64 {
                    if bits & (1 << (GLYPH_W as i64 - 1 - col)) != 0 {
                        let px = left + col * s;
                        fill_rect(img, px, py, px + s, py + s, fg);
                    }
                }
            }
        }
        left = left.saturating_add(advance);
    }
}

/// Draws every annotation: all box outlines, then all reference points with their dashed lines and centre
/// crosses, then all labels. Line width and text size follow the image size ([`line_width`],
/// [`text_scale`]).
pub fn draw_annotations(img: &mut RgbImage, annotations: &[Annotation]) {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return;
    }
    let lw = line_width(w, h) as i64;
    let scale = text_scale(w, h);
    let boxes: Vec<Option<PixelBox>> = annotations.iter().map(|a| PixelBox::new(a.bbox)).collect();

    for (a, b) in annotations.iter().zip(&boxes) {
        if let Some(b) = b {
            draw_box_outline(img, b, lw, palette(a.class_index));
        }
    }
    for (a, b) in annotations.iter().zip(&boxes) {
        if let (Some(b), Some(rp)) = (b, a.reference_point) {
            draw_reference(img, b, rp, lw, palette(a.class_index));
        }
    }
    for (a, b) in annotations.iter().zip(&boxes) {
        if let Some(b) = b {
            draw_label(img, b, &a.label, scale, palette(a.class_index));
        }
    }
}

/// Coordinates are clamped to this many pixels either side, so the integer maths cannot overflow.
const COORD_LIMIT: f32 = 1.0e7;

/// A box snapped to pixels: columns `x0..x1`, rows `y0..y1` (half-open, never empty), plus its exact centre.
struct PixelBox {
    x0: i64,
    y0: i64,
    x1: i64,
    y1: i64,
    centre: [f64; 2],
}

impl PixelBox {
    fn new(bbox: [f32; 4]) -> Option<Self> {
        if bbox.iter().any(|v| v.is_nan()) {
            return None;
        }
        let c = bbox.map(|v| v.clamp(-COORD_LIMIT, COORD_LIMIT));
        let (fx0, fx1) = (c[0].min(c[2]), c[0].max(c[2]));
        let (fy0, fy1) = (c[1].min(c[3]), c[1].max(c[3]));
        let (x0, y0) = (fx0.round() as i64, fy0.round() as i64);
        let x1 = (fx1.round() as i64).max(x0 + 1);
        let y1 = (fy1.round() as i64).max(y0 + 1);
        let centre = [(fx0 as f64 + fx1 as f64) / 2.0, (fy0 as f64 + fy1 as f64) / 2.0];
        Some(Self { x0, y0, x1, y1, centre })
    }

    fn intersects(&self, w: i64, h: i64) -> bool {
        self.x0 < w && self.x1 > 0 && self.y0 < h && self.y1 > 0
    }
}

/// The outline lies inside the box, so a box at the image border stays fully visible.
fn draw_box_outline(img: &mut RgbImage, b: &PixelBox, lw: i64, colour: [u8; 3]) {
    fill_rect(img, b.x0, b.y0, b.x1, b.y0 + lw, colour);
    fill_rect(img, b.x0, b.y1 - lw, b.x1, b.y1, colour);
    fill_rect(img, b.x0, b.y0, b.x0 + lw, b.y1, colour);
    fill_rect(img, b.x1 - lw, b.y0, b.x1, b.y1, colour);
}

/// Dashed line from the reference point to the box centre, a cross at the centre, then the reference dot
/// (radius `2 lw`) with a one-pixel white ring.
fn draw_reference(img: &mut RgbImage, b: &PixelBox, rp: [f32; 2], lw: i64, colour: [u8; 3]) {
    if !(rp[0].is_finite() && rp[1].is_finite()) {
        return;
    }
    let p = [rp[0].clamp(-COORD_LIMIT, COORD_LIMIT) as f64, rp[1].clamp(-COORD_LIMIT, COORD_LIMIT) as f64];
    let c = b.centre;
    let thick = (lw * 3 / 4).max(2);
    let dash = (4 * lw) as f64;
    let gap = (3 * lw) as f64;
    draw_dashed_line(img, p, c, thick, dash, gap, colour);

    // Centre cross: white underlay one pixel wider all round, then the class colour.
    let arm = (lw * 2).max(3);
    let (cx, cy) = (c[0].floor() as i64, c[1].floor() as i64);
    let half = |t: i64| (t - 1) / 2;
    for (t, col) in [(thick + 2, [255, 255, 255]), (thick, colour)] {
        let extra = if t > thick { 1 } else { 0 };
        let a = arm + extra;
        fill_rect(img, cx - a, cy - half(t), cx + a + 1, cy - half(t) + t, col);
        fill_rect(img, cx - half(t), cy - a, cx - half(t) + t, cy + a + 1, col);
    }

    let r = (2 * lw) as f64;
    fill_disc(img, p, r + 1.0, [255, 255, 255]);
    fill_disc(img, p, r, colour);
}

/// The label sits on a filled rectangle just above the box's top-left corner; when that would leave the
/// image it moves inside the box (top edge) and sideways so it stays on the image.
fn draw_label(img: &mut RgbImage, b: &PixelBox, label: &str, scale: u32, colour: [u8; 3]) {
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    if label.is_empty() || !b.intersects(iw, ih) {
        return;
    }
    let (tw, th) = text_size(label, scale);
    let (tw, th) = (tw as i64, th as i64);
    let mut y = b.y0 - th;
    if y < 0 {
        y = b.y0.max(0);
    }
    let y = y.min(ih - th).max(0);
    let x = b.x0.min(iw - tw).max(0);
    draw_text(img, x as i32, y as i32, label, scale, text_colour_on(colour), Some(colour));
}

/// Fills columns `x0..x1`, rows `y0..y1`, clipped to the image.
fn fill_rect(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, colour: [u8; 3]) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (x0, x1) = (x0.clamp(0, w), x1.clamp(0, w));
    let (y0, y1) = (y0.clamp(0, h), y1.clamp(0, h));
    for y in y0..y1 {
        for x in x0..x1 {
            img.put_pixel(x as u32, y as u32, Rgb(colour));
        }
    }
}

/// Fills the pixels whose centres lie within `r` of `c`.
fn fill_disc(img: &mut RgbImage, c: [f64; 2], r: f64, colour: [u8; 3]) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let x0 = ((c[0] - r).floor() as i64).clamp(0, w);
    let x1 = ((c[0] + r).ceil() as i64 + 1).clamp(0, w);
    let y0 = ((c[1] - r).floor() as i64).clamp(0, h);
    let y1 = ((c[1] + r).ceil() as i64 + 1).clamp(0, h);
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (x as f64 + 0.5 - c[0], y as f64 + 0.5 - c[1]);
            if dx * dx + dy * dy <= r * r {
                img.put_pixel(x as u32, y as u32, Rgb(colour));
            }
        }
    }
}

/// A dashed line of square `thick`-pixel dots from `a` to `b`: `dash` pixels on, `gap` off, starting with a
/// dash at `a`. Only the part near the image is walked, so far-away endpoints cost nothing.
fn draw_dashed_line(img: &mut RgbImage, a: [f64; 2], b: [f64; 2], thick: i64, dash: f64, gap: f64, colour: [u8; 3]) {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len = (dx * dx + dy * dy).sqrt();
    if len.is_nan() || len < 1.0 {
        return;
    }
    let margin = thick as f64 + 1.0;
    let Some((t0, t1)) =
        clip_segment(a, b, -margin, -margin, img.width() as f64 + margin, img.height() as f64 + margin)
    else {
        return;
    };
    let period = dash + gap;
    let half = (thick - 1) / 2;
    let step = 0.5;
    let mut d = t0 * len;
    let end = t1 * len;
    while d <= end {
        if d % period < dash {
            let t = d / len;
            let (x, y) = ((a[0] + dx * t).floor() as i64, (a[1] + dy * t).floor() as i64);
            fill_rect(img, x - half, y - half, x - half + thick, y - half + thick, colour);
        }
        d += step;
    }
}

/// Liang–Barsky: the parameter range `[t0, t1]` of segment `a → b` inside the rectangle, if any.
fn clip_segment(a: [f64; 2], b: [f64; 2], xmin: f64, ymin: f64, xmax: f64, ymax: f64) -> Option<(f64, f64)> {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [(-dx, a[0] - xmin), (dx, xmax - a[0]), (-dy, a[1] - ymin), (dy, ymax - a[1])] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some((t0, t1))
}
