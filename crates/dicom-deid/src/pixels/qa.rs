//! QA thumbnails: the first frame before and after redaction, side by side, as a PNG.

use super::{ImageInfo, PixelError, codec};
use crate::dataset::Value;
use crate::io::Source;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// Widest a half of the thumbnail may be; larger frames are downsampled by an integer step.
const MAX_SIDE: u32 = 512;

/// The first frame of a DICOM file, decoded: its attributes (photometric interpretation as
/// decoded) and its samples (pixel-interleaved, little-endian).
pub fn first_frame(path: &Path) -> Result<(ImageInfo, Vec<u8>), PixelError> {
    // The path may hold names: the caller, which knows the file, reports it as it may.
    let io = |e: std::io::Error| PixelError::Qa(e.to_string());
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut src = Source::new(BufReader::new(file), Some(len));
    let header = src
        .read_header()
        .map_err(|e| PixelError::Qa(e.to_string()))?;
    let px = header
        .pixel
        .ok_or_else(|| PixelError::Qa("no pixel data".into()))?;
    let be = header.transfer_syntax.encoding.big_endian;
    let mut info = ImageInfo::from_dataset(&header.dataset, be)?;
    let value = src
        .read_pixel_value(&px)
        .map_err(|e| PixelError::Qa(e.to_string()))?;
    match value {
        Value::Bytes(bytes) => {
            let mut native = bytes;
            if info.photometric == "YBR_FULL_422" {
                native = super::redact::expand_ybr422(&native, &info, be)?;
                info.photometric = "YBR_FULL".into();
                info.planar = false;
            }
            let frame = native
                .get(..info.frame_len())
                .ok_or_else(|| PixelError::Malformed("pixel data shorter than a frame".into()))?;
            Ok((info.clone(), to_interleaved_le(frame, &info, be)))
        }
        Value::Fragments(fragments) => {
            let frames = codec::split_frames(&fragments, info.frames)?;
            let first = frames
                .first()
                .ok_or_else(|| PixelError::Malformed("no frame".into()))?;
            let data = codec::decode_frame(&header.transfer_syntax.uid, &info, first, 0)?;
            info.photometric =
                codec::decoded_photometric(&header.transfer_syntax.uid, &info.photometric).0;
            info.planar = false;
            Ok((info, data))
        }
        Value::Items(_) => Err(PixelError::Malformed("pixel data is a sequence".into())),
    }
}

/// A native frame in any planar configuration and byte order, as interleaved little-endian.
pub fn to_interleaved_le(frame: &[u8], info: &ImageInfo, big_endian: bool) -> Vec<u8> {
    let b = info.bytes();
    let spp = usize::from(info.samples);
    let plane = info.rows as usize * info.cols as usize;
    let mut out = vec![0u8; plane * spp * b];
    for p in 0..plane {
        for s in 0..spp {
            let src = if info.planar {
                (s * plane + p) * b
            } else {
                (p * spp + s) * b
            };
            let dst = (p * spp + s) * b;
            out[dst..dst + b].copy_from_slice(&frame[src..src + b]);
            if big_endian {
                out[dst..dst + b].reverse();
            }
        }
    }
    out
}

/// Renders a decoded frame as 8-bit RGB, downsampled by `step`; grey levels are stretched
/// over `range` (min, max of the stored values).
fn render(info: &ImageInfo, data: &[u8], step: u32, range: (i64, i64)) -> image::RgbImage {
    let (w, h) = (info.cols.div_ceil(step), info.rows.div_ceil(step));
    let b = info.bytes();
    let spp = usize::from(info.samples);
    let sample = |x: u32, y: u32, s: usize| -> i64 {
        let at = ((y as usize * info.cols as usize + x as usize) * spp + s) * b;
        let mut v: u64 = 0;
        for &byte in data[at..at + b].iter().rev() {
            v = (v << 8) | u64::from(byte);
        }
        if info.signed {
            let shift = 64 - 8 * b as u32;
            ((v << shift) as i64) >> shift
        } else {
            v as i64
        }
    };
    let span = (range.1 - range.0).max(1);
    let grey = |v: i64| (((v - range.0).clamp(0, span) * 255) / span) as u8;
    let shift = u32::from(info.bits_stored.saturating_sub(8));
    image::RgbImage::from_fn(w, h, |x, y| {
        let (sx, sy) = (x * step, y * step);
        if spp == 3 {
            let [c0, c1, c2] = [0, 1, 2].map(|s| (sample(sx, sy, s) >> shift).clamp(0, 255));
            if info.photometric.starts_with("YBR") {
                let (yy, cb, cr) = (c0 as f64, c1 as f64 - 128.0, c2 as f64 - 128.0);
                let r = yy + 1.402 * cr;
                let g = yy - 0.344_136 * cb - 0.714_136 * cr;
                let bl = yy + 1.772 * cb;
                image::Rgb([r, g, bl].map(|c| c.clamp(0.0, 255.0) as u8))
            } else {
                image::Rgb([c0 as u8, c1 as u8, c2 as u8])
            }
        } else {
            let mut g = grey(sample(sx, sy, 0));
            if info.photometric == "MONOCHROME1" {
                g = 255 - g;
            }
            image::Rgb([g, g, g])
        }
    })
}

/// Writes `png`: the first frame of `original` (left) and of `redacted` (right), side by
/// side, each at most 512 pixels wide. Grey images share the original's value range, so
/// the two halves are directly comparable.
pub fn write_qa_png(original: &Path, redacted: &Path, png: &Path) -> Result<(), PixelError> {
    let (info_a, data_a) = first_frame(original)?;
    let (info_b, data_b) = first_frame(redacted)?;
    if (info_a.rows, info_a.cols) != (info_b.rows, info_b.cols) {
        return Err(PixelError::Qa("the two images differ in size".into()));
    }
    let step = info_a.cols.div_ceil(MAX_SIDE).max(1);
    let range = if info_a.samples == 1 {
        let b = info_a.bytes();
        let mut min = i64::MAX;
        let mut max = i64::MIN;
        for c in data_a.chunks_exact(b) {
            let mut v: u64 = 0;
            for &byte in c.iter().rev() {
                v = (v << 8) | u64::from(byte);
            }
            let v = if info_a.signed {
                let shift = 64 - 8 * b as u32;
                ((v << shift) as i64) >> shift
            } else {
                v as i64
            };
            min = min.min(v);
            max = max.max(v);
        }
        (min, max)
    } else {
        (0, 255)
    };
    let a = render(&info_a, &data_a, step, range);
    let b = render(&info_b, &data_b, step, range);
    let gap = 4;
    let mut out =
        image::RgbImage::from_pixel(a.width() * 2 + gap, a.height(), image::Rgb([255, 0, 255]));
    image::imageops::replace(&mut out, &a, 0, 0);
    image::imageops::replace(&mut out, &b, i64::from(a.width() + gap), 0);
    out.save_with_format(png, image::ImageFormat::Png)
        .map_err(|e| PixelError::Qa(e.to_string()))
}
