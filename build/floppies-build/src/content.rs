//! The default content: an animated GIF of a floppy disk, drawn here so the
//! project ships nothing it did not make, and a small index.html that shows
//! it (without one, s3www answers `/` with a listing of every object name).
//! Deterministic: same bytes every build.

use anyhow::{Context, Result};
use camino::Utf8Path;
use std::fs;

const SIZE: u16 = 96;
const FRAMES: u16 = 12;

// Palette indices.
const BG: u8 = 0;
const BODY: u8 = 1;
const SHUTTER: u8 = 2;
const LABEL: u8 = 3;
const INK: u8 = 4;
const HOLE: u8 = 5;
const PALETTE: [u8; 18] = [
    0xf4, 0xf1, 0xe8, // background
    0x1f, 0x3a, 0x6e, // disk body
    0xb8, 0xbc, 0xc4, // metal shutter
    0xff, 0xff, 0xff, // label
    0xd2, 0x3c, 0x3c, // label ink
    0x14, 0x14, 0x14, // disk window
];

/// The page at `/`: the GIF, centred, on its own background colour.
pub const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>floppies</title>
<style>
  html, body { margin: 0; height: 100%; background: #f4f1e8; }
  body { display: flex; align-items: center; justify-content: center; }
  img { width: 288px; height: 288px; image-rendering: pixelated; }
</style>
</head>
<body>
<img src="floppy.gif" alt="An animated floppy disk" width="288" height="288">
</body>
</html>
"#;

/// Writes the default content into DIR: floppy.gif and index.html.
pub fn default_content(dir: &Utf8Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("could not create '{dir}'"))?;
    floppy_gif(&dir.join("floppy.gif"))?;
    let index = dir.join("index.html");
    fs::write(&index, INDEX_HTML).with_context(|| format!("could not write '{index}'"))
}

/// Writes the floppy GIF to `out`.
pub fn floppy_gif(out: &Utf8Path) -> Result<()> {
    let mut bytes = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut bytes, SIZE, SIZE, &PALETTE).context("could not start the GIF encoder")?;
        enc.set_repeat(gif::Repeat::Infinite).context("GIF repeat")?;
        for f in 0..FRAMES {
            let mut frame = gif::Frame::from_indexed_pixels(SIZE, SIZE, draw(f), None);
            frame.delay = 12;
            enc.write_frame(&frame).context("could not write a GIF frame")?;
        }
    }
    fs::write(out, bytes).with_context(|| format!("could not write '{out}'"))
}

/// One frame: the shutter slides open and closed across the frames.
fn draw(frame: u16) -> Vec<u8> {
    let n = SIZE as i32;
    let phase = (frame as i32 * 2 * 14 / FRAMES as i32) % 28;
    let slide = if phase < 14 { phase } else { 28 - phase };
    let mut px = vec![BG; (n * n) as usize];
    let mut rect = |x0: i32, y0: i32, x1: i32, y1: i32, c: u8| {
        for y in y0.max(0)..y1.min(n) {
            for x in x0.max(0)..x1.min(n) {
                px[(y * n + x) as usize] = c;
            }
        }
    };
    rect(8, 8, 88, 88, BODY);
    rect(20, 52, 76, 88, LABEL);
    for line in 0..3 {
        rect(26, 60 + line * 8, 70, 62 + line * 8, INK);
    }
    rect(30, 12, 52, 34, HOLE);
    rect(26 + slide, 8, 66 + slide.min(14), 36, SHUTTER);
    rect(46 + slide, 14, 56 + slide, 32, BODY);
    // The cut corner of a 3.5" disk.
    for y in 8..16 {
        for x in (88 - (16 - y))..88 {
            px[(y * n + x) as usize] = BG;
        }
    }
    px
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gif_is_deterministic_and_animated() {
        let dir = camino::Utf8PathBuf::from_path_buf(std::env::temp_dir()).unwrap();
        let a = dir.join(format!("floppy-a-{}.gif", std::process::id()));
        let b = dir.join(format!("floppy-b-{}.gif", std::process::id()));
        floppy_gif(&a).unwrap();
        floppy_gif(&b).unwrap();
        let bytes = fs::read(&a).unwrap();
        assert_eq!(bytes, fs::read(&b).unwrap());
        assert!(bytes.starts_with(b"GIF89a"));
        let mut opts = gif::DecodeOptions::new();
        opts.set_color_output(gif::ColorOutput::Indexed);
        let mut dec = opts.read_info(&bytes[..]).unwrap();
        let mut frames = 0;
        while dec.read_next_frame().unwrap().is_some() {
            frames += 1;
        }
        assert_eq!(frames, FRAMES);
        let _ = fs::remove_file(a);
        let _ = fs::remove_file(b);
    }
}
