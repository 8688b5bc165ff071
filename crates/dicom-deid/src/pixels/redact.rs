//! In-place redaction of one native frame.

use super::{Fill, ImageInfo, PixelError, PixelRect, read_u16};
use crate::dataset::{Dataset, Element};
use dicom_core::Tag;

/// How the samples of a frame are laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Samples per pixel.
    pub samples: usize,
    /// Bytes per sample (1, 2 or 4).
    pub bytes: usize,
    /// Colour-by-plane (planar configuration 1).
    pub planar: bool,
    /// Samples are big-endian.
    pub big_endian: bool,
    /// Samples are two's complement (sign-extended to the allocated width).
    pub signed: bool,
}

impl Layout {
    /// The layout of native frames of `info` in the given byte order.
    pub fn of(info: &ImageInfo, big_endian: bool) -> Layout {
        Layout {
            rows: info.rows as usize,
            cols: info.cols as usize,
            samples: usize::from(info.samples),
            bytes: info.bytes(),
            planar: info.planar,
            big_endian,
            signed: info.signed,
        }
    }

    /// Byte offset of sample `s` of pixel (x, y).
    #[inline]
    fn at(&self, x: usize, y: usize, s: usize) -> usize {
        if self.planar {
            ((s * self.rows + y) * self.cols + x) * self.bytes
        } else {
            ((y * self.cols + x) * self.samples + s) * self.bytes
        }
    }

    fn read(&self, frame: &[u8], at: usize) -> i64 {
        let b = &frame[at..at + self.bytes];
        let mut v: u64 = 0;
        if self.big_endian {
            for &byte in b {
                v = (v << 8) | u64::from(byte);
            }
        } else {
            for &byte in b.iter().rev() {
                v = (v << 8) | u64::from(byte);
            }
        }
        if self.signed {
            let shift = 64 - 8 * self.bytes as u32;
            ((v << shift) as i64) >> shift
        } else {
            v as i64
        }
    }

    fn encode(&self, v: i64) -> Vec<u8> {
        let le = (v as u64).to_le_bytes();
        let mut out = le[..self.bytes].to_vec();
        if self.big_endian {
            out.reverse();
        }
        out
    }
}

/// A resolved fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillSpec {
    /// One stored value per sample.
    Solid(Vec<i64>),
    /// Block means over `n`×`n` squares.
    Pixelate(usize),
}

impl FillSpec {
    /// Resolves a rule's fill for an image (`ds` supplies palette tables).
    pub fn new(fill: Fill, info: &ImageInfo, ds: &Dataset, big_endian: bool) -> FillSpec {
        let bs = u32::from(info.bits_stored);
        let half = 1i64 << (bs - 1);
        match fill {
            Fill::Pixelate(n) => FillSpec::Pixelate(n.max(1) as usize),
            Fill::Value(v) => FillSpec::Solid(vec![v; usize::from(info.samples)]),
            Fill::Black => FillSpec::Solid(match info.photometric.as_str() {
                "MONOCHROME1" if info.signed => vec![half - 1],
                "MONOCHROME1" => vec![(1i64 << bs) - 1],
                "PALETTE COLOR" => vec![darkest_palette_entry(ds, big_endian)],
                p if p.starts_with("YBR") && info.samples == 3 => vec![0, half, half],
                _ if info.samples == 3 => vec![0, 0, 0],
                _ if info.signed => vec![-half],
                _ => vec![0],
            }),
        }
    }
}

/// The index of the darkest entry of a (non-segmented) palette; 0 when there is no table.
fn darkest_palette_entry(ds: &Dataset, be: bool) -> i64 {
    let descriptor = ds.get(Tag(0x0028, 0x1101)).and_then(Element::raw);
    let (Some(d), Some(r), Some(g), Some(b)) = (
        descriptor,
        ds.get(Tag(0x0028, 0x1201)).and_then(Element::raw),
        ds.get(Tag(0x0028, 0x1202)).and_then(Element::raw),
        ds.get(Tag(0x0028, 0x1203)).and_then(Element::raw),
    ) else {
        return 0;
    };
    let entries = match read_u16(d, be) {
        Some(0) => 65536,
        Some(n) => usize::from(n),
        None => return 0,
    };
    let first = d.get(2..).and_then(|x| read_u16(x, be)).unwrap_or(0);
    if r.len() < entries * 2 || g.len() < entries * 2 || b.len() < entries * 2 {
        return 0;
    }
    let word = |t: &[u8], i: usize| u32::from(read_u16(&t[2 * i..], be).unwrap_or(0));
    (0..entries)
        .min_by_key(|&i| word(r, i) + word(g, i) + word(b, i))
        .map_or(0, |i| i64::from(first) + i as i64)
}

/// Fills every pixel of `rects` in one frame.
pub fn redact_frame(frame: &mut [u8], layout: &Layout, rects: &[PixelRect], fill: &FillSpec) {
    match fill {
        FillSpec::Solid(values) => solid(frame, layout, rects, values),
        FillSpec::Pixelate(n) => {
            for r in rects {
                pixelate(frame, layout, r, *n);
            }
        }
    }
}

fn solid(frame: &mut [u8], l: &Layout, rects: &[PixelRect], values: &[i64]) {
    let sample = |s: usize| l.encode(*values.get(s).or(values.last()).unwrap_or(&0));
    if l.planar {
        for s in 0..l.samples {
            let pattern = sample(s);
            for r in rects {
                for y in r.y0 as usize..r.y1 as usize {
                    let a = l.at(r.x0 as usize, y, s);
                    let b = l.at(r.x1 as usize - 1, y, s) + l.bytes;
                    fill_pattern(&mut frame[a..b], &pattern);
                }
            }
        }
    } else {
        let pattern: Vec<u8> = (0..l.samples).flat_map(sample).collect();
        for r in rects {
            for y in r.y0 as usize..r.y1 as usize {
                let a = l.at(r.x0 as usize, y, 0);
                let b = l.at(r.x1 as usize - 1, y, 0) + pattern.len();
                fill_pattern(&mut frame[a..b], &pattern);
            }
        }
    }
}

#[inline]
fn fill_pattern(dst: &mut [u8], pattern: &[u8]) {
    if pattern.iter().all(|&b| b == pattern[0]) {
        dst.fill(pattern[0]);
    } else {
        for chunk in dst.chunks_exact_mut(pattern.len()) {
            chunk.copy_from_slice(pattern);
        }
    }
}

fn pixelate(frame: &mut [u8], l: &Layout, r: &PixelRect, n: usize) {
    let (x0, x1, y0, y1) = (r.x0 as usize, r.x1 as usize, r.y0 as usize, r.y1 as usize);
    for by in (y0..y1).step_by(n) {
        for bx in (x0..x1).step_by(n) {
            let (ex, ey) = ((bx + n).min(x1), (by + n).min(y1));
            let count = ((ex - bx) * (ey - by)) as i64;
            for s in 0..l.samples {
                let mut sum: i64 = 0;
                for y in by..ey {
                    for x in bx..ex {
                        sum += l.read(frame, l.at(x, y, s));
                    }
                }
                let mean = l.encode(sum.div_euclid(count));
                for y in by..ey {
                    for x in bx..ex {
                        let a = l.at(x, y, s);
                        frame[a..a + l.bytes].copy_from_slice(&mean);
                    }
                }
            }
        }
    }
}

/// Expands native YBR_FULL_422 (Y1 Y2 Cb Cr per pixel pair) to YBR_FULL, pixel-interleaved.
pub fn expand_ybr422(
    bytes: &[u8],
    info: &ImageInfo,
    _big_endian: bool,
) -> Result<Vec<u8>, PixelError> {
    if info.samples != 3 || info.cols % 2 != 0 {
        return Err(PixelError::Unsupported(
            "YBR_FULL_422 needs 3 samples and an even number of columns".into(),
        ));
    }
    let b = info.bytes();
    let pairs = info.rows as usize * info.cols as usize / 2 * info.frames as usize;
    let needed = pairs * 4 * b;
    let src = bytes.get(..needed).ok_or_else(|| {
        PixelError::Malformed("YBR_FULL_422 pixel data shorter than its frames".into())
    })?;
    let mut out = Vec::with_capacity(pairs * 6 * b);
    for p in src.chunks_exact(4 * b) {
        let (y1, y2, cb, cr) = (&p[..b], &p[b..2 * b], &p[2 * b..3 * b], &p[3 * b..]);
        for y in [y1, y2] {
            out.extend_from_slice(y);
            out.extend_from_slice(cb);
            out.extend_from_slice(cr);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(samples: usize, bytes: usize, planar: bool, big_endian: bool) -> Layout {
        Layout {
            rows: 6,
            cols: 5,
            samples,
            bytes,
            planar,
            big_endian,
            signed: false,
        }
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn solid_fill_touches_only_the_rectangle() {
        for (samples, bytes, planar, be) in [
            (1, 1, false, false),
            (1, 2, false, true),
            (3, 1, true, false),
            (3, 2, false, false),
            (3, 4, true, true),
        ] {
            let l = layout(samples, bytes, planar, be);
            let n = l.rows * l.cols * samples * bytes;
            let orig: Vec<u8> = (0..n).map(|i| (i % 251 + 1) as u8).collect();
            let mut f = orig.clone();
            let r = PixelRect {
                x0: 1,
                y0: 2,
                x1: 4,
                y1: 5,
            };
            let values: Vec<i64> = (0..samples as i64).map(|s| 0x0102_0304 * s).collect();
            redact_frame(&mut f, &l, &[r], &FillSpec::Solid(values.clone()));
            for y in 0..l.rows {
                for x in 0..l.cols {
                    for s in 0..samples {
                        let a = l.at(x, y, s);
                        if r.contains(x as u32, y as u32) {
                            assert_eq!(l.read(&f, a), values[s] & ((1i64 << (8 * bytes)) - 1));
                        } else {
                            assert_eq!(f[a..a + bytes], orig[a..a + bytes]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn pixelate_averages_blocks() {
        let mut l = layout(1, 2, false, false);
        l.signed = true;
        let mut f = Vec::new();
        for v in 0..30i16 {
            f.extend_from_slice(&(v - 20).to_le_bytes());
        }
        let r = PixelRect {
            x0: 0,
            y0: 0,
            x1: 2,
            y1: 2,
        };
        redact_frame(&mut f, &l, &[r], &FillSpec::Pixelate(2));
        // pixels (0,0)=-20 (1,0)=-19 (0,1)=-15 (1,1)=-14: mean -17
        for (x, y) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            assert_eq!(l.read(&f, l.at(x, y, 0)), -17);
        }
        assert_eq!(l.read(&f, l.at(2, 0, 0)), -18);
    }
}
