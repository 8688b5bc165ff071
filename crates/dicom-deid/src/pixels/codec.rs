//! Decoding encapsulated frames, and the RLE Lossless encoder (PS3.5 Annex G).
//!
//! Decoded frames are always pixel-interleaved (planar configuration 0), little-endian,
//! `Bits Allocated` wide.

use super::{ImageInfo, PixelError, RLE_LOSSLESS};
use dicom_core::value::C;
use dicom_encoding::adapters::{PixelDataObject, RawPixelData};
use dicom_encoding::transfer_syntax::{Codec, TransferSyntaxIndex};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use std::borrow::Cow;

/// Transfer syntaxes whose encoding loses information (or may).
const LOSSY: &[&str] = &[
    "1.2.840.10008.1.2.4.50",  // JPEG baseline
    "1.2.840.10008.1.2.4.51",  // JPEG extended
    "1.2.840.10008.1.2.4.81",  // JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91",  // JPEG 2000
    "1.2.840.10008.1.2.4.203", // HTJ2K
    "1.2.840.10008.1.2.4.93",  // JPEG 2000 Part 2 multi-component
];

const JPEG_FAMILY: &[&str] = &[
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
];

/// The photometric interpretation of frames decoded from `ts` (given the declared one), and
/// whether the input encoding was lossy.
pub fn decoded_photometric(ts: &str, declared: &str) -> (String, bool) {
    let lossy = LOSSY.contains(&ts);
    let jpeg = JPEG_FAMILY.contains(&ts);
    let j2k = ts.starts_with("1.2.840.10008.1.2.4.9") || ts.starts_with("1.2.840.10008.1.2.4.20");
    let pi = match declared {
        "YBR_FULL" | "YBR_FULL_422" if jpeg => "RGB",
        "YBR_ICT" | "YBR_RCT" if j2k => "RGB",
        other => other,
    };
    (pi.to_string(), lossy)
}

/// Groups the fragments of encapsulated pixel data (the first is the Basic Offset Table)
/// into one byte string per frame.
pub fn split_frames(fragments: &[Vec<u8>], frames: u32) -> Result<Vec<Vec<u8>>, PixelError> {
    let Some((bot, items)) = fragments.split_first() else {
        return Err(PixelError::Malformed("no Basic Offset Table item".into()));
    };
    let n = frames as usize;
    if items.len() == n {
        return Ok(items.to_vec());
    }
    if n == 1 {
        return Ok(vec![items.concat()]);
    }
    if !bot.is_empty() {
        if bot.len() != 4 * n {
            return Err(PixelError::Malformed(
                "Basic Offset Table does not have one entry per frame".into(),
            ));
        }
        let offsets: Vec<u64> = bot
            .chunks_exact(4)
            .map(|c| u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        let mut out: Vec<Vec<u8>> = vec![Vec::new(); n];
        let mut pos: u64 = 0;
        for item in items {
            let frame = offsets.iter().rposition(|&o| o <= pos).ok_or_else(|| {
                PixelError::Malformed("Basic Offset Table does not start at 0".into())
            })?;
            out[frame].extend_from_slice(item);
            pos += 8 + item.len() as u64;
        }
        if out.iter().any(Vec::is_empty) {
            return Err(PixelError::Malformed(
                "Basic Offset Table leaves a frame empty".into(),
            ));
        }
        return Ok(out);
    }
    // No offset table: a frame starts at each fragment that opens a JPEG (SOI) or
    // JPEG 2000 (SOC) code stream.
    let mut out: Vec<Vec<u8>> = Vec::new();
    for item in items {
        let starts = item.starts_with(&[0xFF, 0xD8]) || item.starts_with(&[0xFF, 0x4F]);
        match out.last_mut() {
            Some(last) if !starts => last.extend_from_slice(item),
            _ => out.push(item.clone()),
        }
    }
    if out.len() != n {
        return Err(PixelError::Malformed(format!(
            "cannot split {} fragments into {n} frames without an offset table",
            items.len()
        )));
    }
    Ok(out)
}

/// Adds an offset table to one-fragment-per-frame data.
pub fn with_offset_table(frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut bot = Vec::with_capacity(frames.len() * 4);
    let mut pos: u64 = 0;
    let fits = frames.iter().map(|f| 8 + f.len() as u64).sum::<u64>() <= u64::from(u32::MAX);
    if fits {
        for f in &frames {
            bot.extend_from_slice(&(pos as u32).to_le_bytes());
            pos += 8 + f.len() as u64;
        }
    }
    let mut out = Vec::with_capacity(frames.len() + 1);
    out.push(bot);
    out.extend(frames);
    out
}

/// One frame presented to a dicom-rs decoder.
struct FrameObject<'a> {
    ts: &'a str,
    info: &'a ImageInfo,
    data: &'a [u8],
}

impl PixelDataObject for FrameObject<'_> {
    fn transfer_syntax_uid(&self) -> &str {
        self.ts
    }
    fn rows(&self) -> Option<u16> {
        u16::try_from(self.info.rows).ok()
    }
    fn cols(&self) -> Option<u16> {
        u16::try_from(self.info.cols).ok()
    }
    fn samples_per_pixel(&self) -> Option<u16> {
        Some(self.info.samples)
    }
    fn bits_allocated(&self) -> Option<u16> {
        Some(self.info.bits_allocated)
    }
    fn bits_stored(&self) -> Option<u16> {
        Some(self.info.bits_stored)
    }
    fn photometric_interpretation(&self) -> Option<&str> {
        Some(&self.info.photometric)
    }
    fn number_of_frames(&self) -> Option<u32> {
        Some(1)
    }
    fn number_of_fragments(&self) -> Option<u32> {
        Some(1)
    }
    fn fragment(&self, fragment: usize) -> Option<Cow<'_, [u8]>> {
        (fragment == 0).then_some(Cow::Borrowed(self.data))
    }
    fn offset_table(&self) -> Option<Cow<'_, [u32]>> {
        Some(Cow::Borrowed(&[]))
    }
    fn raw_pixel_data(&self) -> Option<RawPixelData> {
        Some(RawPixelData {
            fragments: C::from_vec(vec![self.data.to_vec()]),
            offset_table: C::new(),
        })
    }
}

/// Decodes one frame of `ts` to pixel-interleaved little-endian samples.
pub fn decode_frame(
    ts: &str,
    info: &ImageInfo,
    data: &[u8],
    frame: u32,
) -> Result<Vec<u8>, PixelError> {
    let expected =
        info.rows as usize * info.cols as usize * usize::from(info.samples) * info.bytes();
    let err = |reason: String| PixelError::Decode { frame, reason };
    if ts == RLE_LOSSLESS {
        return rle_decode_frame(data, info).map_err(err);
    }
    let syntax = TransferSyntaxRegistry
        .get(ts)
        .ok_or_else(|| err(format!("no decoder for transfer syntax {ts}")))?;
    let Codec::EncapsulatedPixelData(Some(reader), _) = syntax.codec() else {
        return Err(err(format!("no decoder for transfer syntax {ts}")));
    };
    if info.rows > u32::from(u16::MAX) || info.cols > u32::from(u16::MAX) {
        return Err(err("image too large".into()));
    }
    let obj = FrameObject { ts, info, data };
    let mut out = Vec::with_capacity(expected);
    reader
        .decode_frame(&obj, 0, &mut out)
        .map_err(|e| err(e.to_string()))?;
    if out.len() < expected {
        return Err(err(format!(
            "decoded {} bytes, expected {expected}",
            out.len()
        )));
    }
    out.truncate(expected);
    // CharLS returns colour-by-plane samples for an uninterleaved (ILV 0) JPEG-LS stream.
    if ts.starts_with("1.2.840.10008.1.2.4.8") && info.samples == 3 && jpegls_uninterleaved(data) {
        out = planar_to_interleaved(&out, info);
    }
    Ok(out)
}

/// True when the first scan of a JPEG-LS stream has one component (ILV 0: a scan per
/// component).
fn jpegls_uninterleaved(data: &[u8]) -> bool {
    let mut i = 2; // after SOI
    while i + 4 <= data.len() {
        if data[i] != 0xFF {
            return false;
        }
        let marker = data[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
        if marker == 0xDA {
            return data.get(i + 4) == Some(&1);
        }
        i += 2 + len;
    }
    false
}

/// Colour-by-plane samples to colour-by-pixel.
fn planar_to_interleaved(planar: &[u8], info: &ImageInfo) -> Vec<u8> {
    let b = info.bytes();
    let spp = usize::from(info.samples);
    let plane = info.rows as usize * info.cols as usize;
    let mut out = vec![0u8; planar.len()];
    for s in 0..spp {
        for p in 0..plane {
            let src = (s * plane + p) * b;
            let dst = (p * spp + s) * b;
            out[dst..dst + b].copy_from_slice(&planar[src..src + b]);
        }
    }
    out
}

/// Encodes one frame (pixel-interleaved, little-endian) as an RLE Lossless fragment: one
/// PackBits segment per byte of each sample, most significant byte first, each row
/// encoded separately (PS3.5 G.3.1), segments padded to even length.
pub fn rle_encode_frame(frame: &[u8], info: &ImageInfo) -> Result<Vec<u8>, PixelError> {
    let (rows, cols) = (info.rows as usize, info.cols as usize);
    let (spp, bytes) = (usize::from(info.samples), info.bytes());
    let segments = spp * bytes;
    if segments > 15 {
        return Err(PixelError::Unsupported(
            "more than 15 RLE segments per frame".into(),
        ));
    }
    let stride = spp * bytes;
    if frame.len() < rows * cols * stride {
        return Err(PixelError::Malformed("frame shorter than its size".into()));
    }
    let mut out = vec![0u8; 64];
    out[..4].copy_from_slice(&(segments as u32).to_le_bytes());
    let mut row = vec![0u8; cols];
    let mut seg = 0;
    for s in 0..spp {
        for k in (0..bytes).rev() {
            let offset = u32::try_from(out.len())
                .map_err(|_| PixelError::Unsupported("RLE frame larger than 4 GiB".into()))?;
            out[4 + 4 * seg..8 + 4 * seg].copy_from_slice(&offset.to_le_bytes());
            for y in 0..rows {
                let base = y * cols * stride + s * bytes + k;
                for (x, b) in row.iter_mut().enumerate() {
                    *b = frame[base + x * stride];
                }
                packbits_encode(&row, &mut out);
            }
            if out.len() % 2 == 1 {
                out.push(0);
            }
            seg += 1;
        }
    }
    Ok(out)
}

/// PackBits: literal runs (n−1, then n bytes) and replicate runs (1−n, then the byte).
pub fn packbits_encode(src: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    let n = src.len();
    while i < n {
        // Length of the run starting at i.
        let b = src[i];
        let mut run = 1;
        while i + run < n && run < 128 && src[i + run] == b {
            run += 1;
        }
        if run >= 2 {
            out.push((1i16 - run as i16) as i8 as u8);
            out.push(b);
            i += run;
            continue;
        }
        // A literal run up to the next pair of equal bytes.
        let start = i;
        i += 1;
        while i < n && i - start < 128 {
            if i + 1 < n && src[i] == src[i + 1] {
                break;
            }
            i += 1;
        }
        out.push((i - start - 1) as u8);
        out.extend_from_slice(&src[start..i]);
    }
}

/// PackBits decoding of one segment into exactly `want` bytes (extra input is ignored).
fn packbits_decode(src: &[u8], want: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(want);
    let mut i = 0;
    while out.len() < want && i < src.len() {
        let h = src[i] as i8;
        i += 1;
        if h >= 0 {
            let len = h as usize + 1;
            let lit = src
                .get(i..i + len)
                .ok_or_else(|| "RLE literal run past the segment end".to_string())?;
            out.extend_from_slice(lit);
            i += len;
        } else if h != -128 {
            let b = *src
                .get(i)
                .ok_or_else(|| "RLE replicate run past the segment end".to_string())?;
            i += 1;
            out.resize(out.len() + (1 - h as isize) as usize, b);
        }
    }
    if out.len() < want {
        return Err(format!(
            "RLE segment decodes to {} of {want} bytes",
            out.len()
        ));
    }
    out.truncate(want);
    Ok(out)
}

/// Decodes one RLE Lossless frame to pixel-interleaved little-endian samples (8, 16 or
/// 32 bits, any number of samples).
pub fn rle_decode_frame(data: &[u8], info: &ImageInfo) -> Result<Vec<u8>, String> {
    let (rows, cols) = (info.rows as usize, info.cols as usize);
    let (spp, bytes) = (usize::from(info.samples), info.bytes());
    let plane = rows * cols;
    let header = data.get(..64).ok_or("RLE header missing")?;
    let word =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let segments = word(0) as usize;
    if segments != spp * bytes {
        return Err(format!(
            "{segments} RLE segments where {} are expected",
            spp * bytes
        ));
    }
    let offsets: Vec<usize> = (0..segments).map(|s| word(4 + 4 * s) as usize).collect();
    let stride = spp * bytes;
    let mut out = vec![0u8; plane * stride];
    for (seg, &start) in offsets.iter().enumerate() {
        let end = offsets.get(seg + 1).copied().unwrap_or(data.len());
        let src = data
            .get(start..end.max(start).min(data.len()))
            .ok_or("RLE segment offset past the fragment end")?;
        let decoded = packbits_decode(src, plane)?;
        let (s, k) = (seg / bytes, bytes - 1 - seg % bytes);
        for (p, &b) in decoded.iter().enumerate() {
            out[p * stride + s * bytes + k] = b;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn info(rows: u32, cols: u32, samples: u16, bits: u16) -> ImageInfo {
        ImageInfo {
            rows,
            cols,
            samples,
            bits_allocated: bits,
            bits_stored: bits,
            signed: false,
            photometric: if samples == 1 { "MONOCHROME2" } else { "RGB" }.into(),
            planar: false,
            frames: 1,
        }
    }

    /// Frames with runs and noise: bytes from a small alphabet, repeated.
    fn frame_strategy() -> impl Strategy<Value = (ImageInfo, Vec<u8>)> {
        (
            1u32..24,
            1u32..40,
            prop::sample::select(vec![1u16, 3]),
            prop::sample::select(vec![8u16, 16, 32]),
        )
            .prop_flat_map(|(rows, cols, spp, bits)| {
                let n = (rows * cols) as usize * usize::from(spp) * usize::from(bits / 8);
                let runs =
                    prop::collection::vec((0u8..4, 1usize..200), 1..64).prop_map(move |runs| {
                        let mut out: Vec<u8> = runs
                            .iter()
                            .flat_map(|&(b, len)| std::iter::repeat_n(b.wrapping_mul(77), len))
                            .collect();
                        out.resize(n, 0xAB);
                        out
                    });
                let noise = prop::collection::vec(any::<u8>(), n);
                (Just(info(rows, cols, spp, bits)), prop_oneof![runs, noise])
            })
    }

    proptest! {
        #[test]
        fn rle_round_trips_through_dicom_rs_and_our_decoder((info, frame) in frame_strategy()) {
            let encoded = rle_encode_frame(&frame, &info).unwrap();
            prop_assert_eq!(encoded.len() % 2, 0);
            prop_assert_eq!(&rle_decode_frame(&encoded, &info).unwrap(), &frame);
            if info.bits_allocated <= 16 {
                // dicom-rs's RLE decoder (8 and 16 bits only) is the independent check.
                let decoded = decode_with_dicom_rs(&encoded, &info);
                prop_assert_eq!(&decoded, &frame);
            }
        }
    }

    fn decode_with_dicom_rs(encoded: &[u8], info: &ImageInfo) -> Vec<u8> {
        let syntax = TransferSyntaxRegistry.get(RLE_LOSSLESS).unwrap();
        let Codec::EncapsulatedPixelData(Some(reader), _) = syntax.codec() else {
            panic!("no RLE decoder");
        };
        let obj = FrameObject {
            ts: RLE_LOSSLESS,
            info,
            data: encoded,
        };
        let mut out = Vec::new();
        reader.decode_frame(&obj, 0, &mut out).unwrap();
        out
    }

    #[test]
    fn packbits_round_trip_edge_cases() {
        for src in [
            vec![],
            vec![1],
            vec![1, 1],
            vec![1, 2],
            vec![7; 300],
            (0..=255).collect::<Vec<u8>>(),
            vec![1, 2, 2, 3, 3, 3, 4, 5, 5],
        ] {
            let mut enc = Vec::new();
            packbits_encode(&src, &mut enc);
            assert_eq!(packbits_decode(&enc, src.len()).unwrap(), src);
        }
    }

    #[test]
    fn split_by_offset_table_and_markers() {
        let frags = vec![
            vec![0, 0, 0, 0, 20, 0, 0, 0],
            vec![0xFF, 0xD8, 1, 2],
            vec![3, 4, 5, 6],
            vec![0xFF, 0xD8, 9, 9],
        ];
        let f = split_frames(&frags, 2).unwrap();
        assert_eq!(
            f,
            vec![vec![0xFF, 0xD8, 1, 2, 3, 4, 5, 6], vec![0xFF, 0xD8, 9, 9]]
        );
        let mut no_bot = frags.clone();
        no_bot[0].clear();
        assert_eq!(split_frames(&no_bot, 2).unwrap(), f);
        assert!(split_frames(&no_bot, 4).is_err());
    }
}
