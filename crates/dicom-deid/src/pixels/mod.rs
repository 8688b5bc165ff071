//! Burned-in text: rule-based pixel redaction (the Clean Pixel Data option, code 113101).
//!
//! # What happens
//!
//! With [`DeidOption::CleanPixelData`](crate::DeidOption::CleanPixelData) enabled, the
//! de-identifier asks [`PixelCleaner::decide`] about every file, *before* the header profile
//! runs (rules read Manufacturer and the like, which the profile may remove):
//!
//! - When one or more [rules](PixelRules) match, the pixel data is read into memory,
//!   every frame is redacted, Burned In Annotation (0028,0301) is set to `NO`, and 113101
//!   is recorded in the De-identification Method Code Sequence (it comes from the option).
//! - When no rule matches but the image needs cleaning (Burned In Annotation `YES`, or the
//!   attribute absent on US, SC or OT images), the file is rejected
//!   ([`PixelError::NotCleaned`]) unless the [`BurnedInPolicy`] is `PassWithWarning`.
//! - Otherwise the pixel data is streamed untouched, as without the option.
//!
//! # Encodings
//!
//! Native pixel data is redacted in place (every frame; MONOCHROME1/2, RGB, YBR_FULL,
//! PALETTE COLOR; planar configuration 0 and 1; 8, 16 and 32 bits, signed or not; little or
//! big endian). Native YBR_FULL_422 is first expanded to YBR_FULL (each chroma pair copied
//! to both pixels, which is what readers display).
//!
//! Encapsulated pixel data is decoded frame by frame (RLE by our own decoder; JPEG,
//! JPEG-LS and JPEG 2000 through `dicom-transfer-syntax-registry`), redacted, and written
//! as **RLE Lossless** (our encoder, [`codec::rle_encode_frame`]), which is lossless and
//! bit-exact outside the redacted regions. Decoders return colour JPEG and JPEG 2000
//! (YBR_FULL, YBR_FULL_422, YBR_ICT, YBR_RCT) as RGB, so the output says RGB. Lossy inputs
//! (JPEG baseline/extended, lossy JPEG 2000, near-lossless JPEG-LS) get no second lossy
//! generation: they are written as RLE, Lossy Image Compression stays `01`, and the
//! [`PixelOutcome`] notes "written lossless (RLE), no new lossy generation".
//!
//! # Rule file format (TOML)
//!
//! ```toml
//! [[rule]]
//! name = "us-keep-data-regions"      # shown in reports
//! kind = "ultrasound-regions"        # or "rectangles" (the default)
//! fill = "black"                     # or { value = 0 }, or { pixelate = 16 }
//! [rule.when]                        # every key must match (no keys: every image)
//! Modality = ["US", "IVUS"]          # a string is exact; a list is any-of
//!
//! [[rule]]
//! name = "acme-footer"
//! [rule.when]
//! Manufacturer = { prefix = "ACME" }                 # exact | prefix | regex | absent
//! ManufacturerModelName = { regex = "^Model X\\d+$" }
//! Rows = 768                                           # numbers compare as text
//! [[rule.rect]]
//! x = 0                # pixels from the left; negative: from the right edge; or "N%"
//! y = -40              # pixels from the top; negative: from the bottom edge; or "N%"
//! width = "100%"       # pixels, "N%" of Columns, or negative: up to N from the right edge
//! height = 40          # pixels, "N%" of Rows, or negative: up to N from the bottom edge
//! ```
//!
//! Condition keys: Modality, Manufacturer, ManufacturerModelName, Rows, Columns,
//! SOPClassUID, ImageType (compared as its whole value, e.g. `ORIGINAL\PRIMARY`),
//! BurnedInAnnotation. Every matching rule applies, in file order. An
//! `ultrasound-regions` rule keeps the regions of (0018,6011) and blanks the rest; it does
//! not match an image without that sequence. Black is per photometric interpretation:
//! minimum for MONOCHROME2, maximum for MONOCHROME1, 0 for RGB, (0, half, half) for YBR,
//! the darkest palette entry for PALETTE COLOR.

pub mod codec;
pub mod qa;
pub mod redact;
pub mod rules;

pub use qa::write_qa_png;
pub use rules::{Coord, Fill, PixelRect, PixelRules, Rect, Rule, RuleKind};

use crate::dataset::{Dataset, Element, Value};
use crate::io::{Header, PixelHeader, TransferSyntax, tags};
use dicom_core::{Tag, VR};
use serde::Serialize;

const SAMPLES_PER_PIXEL: Tag = Tag(0x0028, 0x0002);
const PHOTOMETRIC: Tag = Tag(0x0028, 0x0004);
const PLANAR_CONFIGURATION: Tag = Tag(0x0028, 0x0006);
const NUMBER_OF_FRAMES: Tag = Tag(0x0028, 0x0008);
const ROWS: Tag = Tag(0x0028, 0x0010);
const COLUMNS: Tag = Tag(0x0028, 0x0011);
const BITS_ALLOCATED: Tag = Tag(0x0028, 0x0100);
const BITS_STORED: Tag = Tag(0x0028, 0x0101);
const PIXEL_REPRESENTATION: Tag = Tag(0x0028, 0x0103);
/// Burned In Annotation.
pub const BURNED_IN_ANNOTATION: Tag = Tag(0x0028, 0x0301);
const LOSSY_IMAGE_COMPRESSION: Tag = Tag(0x0028, 0x2110);
const EXTENDED_OFFSET_TABLE: Tag = Tag(0x7FE0, 0x0001);
const EXTENDED_OFFSET_TABLE_LENGTHS: Tag = Tag(0x7FE0, 0x0002);
const MODALITY: Tag = Tag(0x0008, 0x0060);
const SOP_CLASS_UID: Tag = Tag(0x0008, 0x0016);
const SECONDARY_CAPTURE: &str = "1.2.840.10008.5.1.4.1.1.7";

/// RLE Lossless.
pub const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Why pixel data could not be cleaned. Messages never hold patient values.
#[derive(Debug, thiserror::Error)]
pub enum PixelError {
    /// A rule file is invalid.
    #[error("pixel rules: {0}")]
    Rules(String),
    /// The image may carry burned-in text and no rule covers it (fail closed).
    #[error(
        "burned-in annotation not cleaned: {0}; add a pixel rule, or pass such files with a warning"
    )]
    NotCleaned(String),
    /// The image attributes are outside what the redactor handles.
    #[error("unsupported pixel data: {0}")]
    Unsupported(String),
    /// The pixel data does not agree with the image attributes.
    #[error("malformed pixel data: {0}")]
    Malformed(String),
    /// A frame could not be decoded.
    #[error("cannot decode frame {frame}: {reason}")]
    Decode {
        /// The frame (from 0).
        frame: u32,
        /// What the decoder said.
        reason: String,
    },
    /// The QA image could not be written.
    #[error("QA image: {0}")]
    Qa(String),
}

impl PixelError {
    /// A short, stable name for the kind of error.
    pub fn kind(&self) -> &'static str {
        match self {
            PixelError::Rules(_) => "pixel-rules",
            PixelError::NotCleaned(_) => "burned-in-not-cleaned",
            PixelError::Unsupported(_) => "pixel-unsupported",
            PixelError::Malformed(_) => "pixel-malformed",
            PixelError::Decode { .. } => "pixel-decode",
            PixelError::Qa(_) => "qa-image",
        }
    }
}

/// What to do with an image that needs cleaning when no rule matches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum BurnedInPolicy {
    /// Reject the file (fail closed; the default).
    #[default]
    Reject,
    /// Write it with the pixels untouched and a warning in the [`PixelOutcome`].
    PassWithWarning,
}

/// What was done to the pixel data of one file. Holds no patient value.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PixelOutcome {
    /// Names of the rules applied.
    pub rules: Vec<String>,
    /// Frames redacted.
    pub frames: u32,
    /// Rectangles blanked per frame.
    pub regions: usize,
    /// Transfer syntax of the written pixel data.
    pub transfer_syntax: String,
    /// Photometric interpretation of the written pixel data.
    pub photometric_interpretation: String,
    /// Notes, such as "written lossless (RLE), no new lossy generation".
    pub notes: Vec<String>,
    /// Warnings, such as an image passed uncleaned under `PassWithWarning`.
    pub warnings: Vec<String>,
}

/// The image attributes that drive decoding and redaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub cols: u32,
    /// Samples per pixel.
    pub samples: u16,
    /// Bits allocated.
    pub bits_allocated: u16,
    /// Bits stored.
    pub bits_stored: u16,
    /// Pixel representation 1 (two's complement).
    pub signed: bool,
    /// Photometric interpretation (trimmed).
    pub photometric: String,
    /// Planar configuration 1 (colour-by-plane).
    pub planar: bool,
    /// Number of frames.
    pub frames: u32,
}

pub(crate) fn read_u16(b: &[u8], big_endian: bool) -> Option<u16> {
    let a: [u8; 2] = b.get(..2)?.try_into().ok()?;
    Some(if big_endian {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    })
}

pub(crate) fn read_u32(b: &[u8], big_endian: bool) -> Option<u32> {
    let a: [u8; 4] = b.get(..4)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    })
}

fn u16_of(ds: &Dataset, tag: Tag, be: bool) -> Option<u16> {
    ds.get(tag)
        .and_then(Element::raw)
        .and_then(|b| read_u16(b, be))
}

impl ImageInfo {
    /// Reads the image attributes of a data set (`big_endian`: the data set's byte order).
    pub fn from_dataset(ds: &Dataset, big_endian: bool) -> Result<ImageInfo, PixelError> {
        let need = |tag: Tag, name: &str| {
            u16_of(ds, tag, big_endian)
                .ok_or_else(|| PixelError::Unsupported(format!("{name} missing or invalid")))
        };
        let rows = u32::from(need(ROWS, "Rows")?);
        let cols = u32::from(need(COLUMNS, "Columns")?);
        let bits_allocated = need(BITS_ALLOCATED, "Bits Allocated")?;
        let samples = u16_of(ds, SAMPLES_PER_PIXEL, big_endian).unwrap_or(1);
        let bits_stored = u16_of(ds, BITS_STORED, big_endian).unwrap_or(bits_allocated);
        let signed = u16_of(ds, PIXEL_REPRESENTATION, big_endian) == Some(1);
        let planar = samples > 1 && u16_of(ds, PLANAR_CONFIGURATION, big_endian) == Some(1);
        let photometric = ds
            .get_str(PHOTOMETRIC)
            .unwrap_or(if samples == 1 { "MONOCHROME2" } else { "RGB" })
            .to_string();
        let frames = match ds.get_str(NUMBER_OF_FRAMES) {
            None | Some("") => 1,
            Some(s) => s
                .trim()
                .parse::<u32>()
                .map_err(|_| PixelError::Unsupported("Number of Frames is not a number".into()))?,
        };
        if rows == 0 || cols == 0 || frames == 0 {
            return Err(PixelError::Unsupported("empty image".into()));
        }
        if !matches!(bits_allocated, 8 | 16 | 32) {
            return Err(PixelError::Unsupported(format!(
                "Bits Allocated {bits_allocated} (8, 16 and 32 are supported)"
            )));
        }
        if !matches!(samples, 1 | 3) || bits_stored == 0 || bits_stored > bits_allocated {
            return Err(PixelError::Unsupported(
                "Samples per Pixel or Bits Stored out of range".into(),
            ));
        }
        Ok(ImageInfo {
            rows,
            cols,
            samples,
            bits_allocated,
            bits_stored,
            signed,
            photometric,
            planar,
            frames,
        })
    }

    /// Bytes per sample.
    pub fn bytes(&self) -> usize {
        usize::from(self.bits_allocated / 8)
    }

    /// Bytes of one native frame (YBR_FULL_422: two samples per pixel).
    pub fn frame_len(&self) -> usize {
        let samples = if self.photometric == "YBR_FULL_422" {
            2
        } else {
            usize::from(self.samples)
        };
        self.rows as usize * self.cols as usize * samples * self.bytes()
    }
}

/// The pixel cleaner: the rules and the policy for images no rule covers.
#[derive(Debug, Clone)]
pub struct PixelCleaner {
    /// The rules.
    pub rules: PixelRules,
    /// What to do when an image needs cleaning and no rule matches.
    pub policy: BurnedInPolicy,
}

impl Default for PixelCleaner {
    /// The shipped rules ([`PixelRules::default_rules`]) and [`BurnedInPolicy::Reject`].
    fn default() -> Self {
        PixelCleaner {
            rules: PixelRules::default_rules(),
            policy: BurnedInPolicy::Reject,
        }
    }
}

/// What [`PixelCleaner::decide`] concluded for one file.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Stream the pixel data untouched.
    Untouched,
    /// Stream the pixel data untouched and report this outcome (a warning).
    Warn(PixelOutcome),
    /// Redact.
    Redact(Plan),
}

/// The redaction to carry out on one file.
#[derive(Debug, Clone)]
pub struct Plan {
    info: ImageInfo,
    big_endian: bool,
    rules: Vec<String>,
    /// Rectangles and their fill, in rule order.
    regions: Vec<(Vec<PixelRect>, Fill)>,
}

/// True when the image may carry burned-in text by the issue's criterion: Burned In
/// Annotation YES, or absent on US, SC or OT (modality or Secondary Capture SOP class).
pub fn needs_cleaning(ds: &Dataset) -> bool {
    match ds.get_str(BURNED_IN_ANNOTATION) {
        Some(v) if !v.is_empty() => v.eq_ignore_ascii_case("YES"),
        _ => {
            matches!(ds.get_str(MODALITY), Some("US" | "SC" | "OT"))
                || ds.get_str(SOP_CLASS_UID).is_some_and(|u| {
                    // Secondary Capture and the multi-frame Secondary Captures (….7.1 to .7.4).
                    u == SECONDARY_CAPTURE || u.starts_with(&format!("{SECONDARY_CAPTURE}."))
                })
        }
    }
}

impl PixelCleaner {
    /// A cleaner with these rules and policy.
    pub fn new(rules: PixelRules, policy: BurnedInPolicy) -> Self {
        PixelCleaner { rules, policy }
    }

    /// Decides from the ORIGINAL header (before the profile) what to do with the pixels.
    pub fn decide(&self, header: &Header) -> Result<Decision, PixelError> {
        let Some(px) = &header.pixel else {
            return Ok(Decision::Untouched);
        };
        let ds = &header.dataset;
        let be = header.transfer_syntax.encoding.big_endian;
        let must = needs_cleaning(ds);
        let not_cleaned = |reason: String| {
            if self.policy == BurnedInPolicy::PassWithWarning {
                Ok(Decision::Warn(PixelOutcome {
                    transfer_syntax: header.transfer_syntax.uid.clone(),
                    photometric_interpretation: ds.get_str(PHOTOMETRIC).unwrap_or("").to_string(),
                    warnings: vec![format!("burned-in annotation not cleaned: {reason}")],
                    ..PixelOutcome::default()
                }))
            } else {
                Err(PixelError::NotCleaned(reason))
            }
        };
        if px.tag != tags::PIXEL_DATA {
            return if must {
                not_cleaned("float pixel data is not redacted".into())
            } else {
                Ok(Decision::Untouched)
            };
        }
        let info = match ImageInfo::from_dataset(ds, be) {
            Ok(info) => info,
            Err(e) if must => return not_cleaned(e.to_string()),
            Err(_) => return Ok(Decision::Untouched),
        };
        let matching = self.rules.matching(ds, &info, be);
        if matching.is_empty() {
            return if must {
                not_cleaned("no pixel rule matches this image".into())
            } else {
                Ok(Decision::Untouched)
            };
        }
        Ok(Decision::Redact(Plan {
            info,
            big_endian: be,
            rules: matching.iter().map(|(r, _)| r.name.clone()).collect(),
            regions: matching
                .into_iter()
                .map(|(r, rects)| (rects, r.fill))
                .collect(),
        }))
    }
}

/// The redacted pixel data and what to write with it.
#[derive(Debug)]
pub struct Redacted {
    /// The Pixel Data element to write.
    pub element: Element,
    /// The transfer syntax of the output.
    pub transfer_syntax: TransferSyntax,
    /// What was done.
    pub outcome: PixelOutcome,
}

impl Plan {
    /// The image attributes.
    pub fn info(&self) -> &ImageInfo {
        &self.info
    }

    /// Redacts `value` (the pixel data read from the file with `px`), updates the image
    /// attributes of `ds` (the de-identified data set) to match what is written, and sets
    /// Burned In Annotation to NO.
    pub fn apply(
        &self,
        value: Value,
        px: &PixelHeader,
        ts: &TransferSyntax,
        ds: &mut Dataset,
    ) -> Result<Redacted, PixelError> {
        let mut info = self.info.clone();
        let mut notes = Vec::new();
        let (element, out_ts) = match value {
            Value::Bytes(mut bytes) => {
                if info.photometric == "YBR_FULL_422" {
                    bytes = redact::expand_ybr422(&bytes, &info, self.big_endian)?;
                    info.photometric = "YBR_FULL".into();
                    info.planar = false;
                    notes.push("native YBR_FULL_422 expanded to YBR_FULL".into());
                }
                let frame_len = info.frame_len();
                let needed = frame_len
                    .checked_mul(info.frames as usize)
                    .ok_or_else(|| PixelError::Malformed("frame size overflows".into()))?;
                if bytes.len() < needed {
                    return Err(PixelError::Malformed(format!(
                        "{} bytes of pixel data for {} frames of {frame_len} bytes",
                        bytes.len(),
                        info.frames
                    )));
                }
                if self.big_endian && info.bits_allocated == 8 && px.vr == VR::OW {
                    return Err(PixelError::Unsupported(
                        "8-bit OW pixel data in big endian".into(),
                    ));
                }
                let layout = redact::Layout::of(&info, self.big_endian);
                let fills = self.fills(&info, ds);
                for frame in bytes[..needed].chunks_exact_mut(frame_len) {
                    for (rects, fill) in &fills {
                        redact::redact_frame(frame, &layout, rects, fill);
                    }
                }
                (Element::bytes(px.tag, px.vr, bytes), ts.clone())
            }
            Value::Fragments(fragments) => {
                let frames = codec::split_frames(&fragments, info.frames)?;
                let (decoded_pi, lossy) = codec::decoded_photometric(&ts.uid, &info.photometric);
                let mut out_info = info.clone();
                out_info.photometric = decoded_pi;
                out_info.planar = false;
                let layout = redact::Layout::of(&out_info, false);
                let fills = self.fills(&out_info, ds);
                let mut encoded = Vec::with_capacity(frames.len());
                for (i, frame) in frames.iter().enumerate() {
                    let mut pixels = codec::decode_frame(&ts.uid, &info, frame, i as u32)?;
                    for (rects, fill) in &fills {
                        redact::redact_frame(&mut pixels, &layout, rects, fill);
                    }
                    encoded.push(codec::rle_encode_frame(&pixels, &out_info)?);
                }
                if ts.uid != RLE_LOSSLESS {
                    notes.push(if lossy {
                        "written lossless (RLE), no new lossy generation".to_string()
                    } else {
                        "re-encoded lossless (RLE), bit-exact outside the redacted regions"
                            .to_string()
                    });
                }
                if lossy {
                    ds.put(Element::text(LOSSY_IMAGE_COMPRESSION, VR::CS, "01"));
                }
                if out_info.photometric != info.photometric {
                    notes.push(format!(
                        "photometric interpretation {} decoded as {}",
                        info.photometric, out_info.photometric
                    ));
                }
                info = out_info;
                ds.remove(EXTENDED_OFFSET_TABLE);
                ds.remove(EXTENDED_OFFSET_TABLE_LENGTHS);
                let element = Element {
                    tag: px.tag,
                    vr: VR::OB,
                    value: Value::Fragments(codec::with_offset_table(encoded)),
                };
                let out_ts = TransferSyntax::from_uid(RLE_LOSSLESS)
                    .map_err(|e| PixelError::Unsupported(e.to_string()))?;
                (element, out_ts)
            }
            Value::Items(_) => {
                return Err(PixelError::Malformed("pixel data is a sequence".into()));
            }
        };
        // The written image attributes.
        ds.put(Element::text(PHOTOMETRIC, VR::CS, &info.photometric));
        if info.samples > 1 {
            let planar = u16::from(info.planar);
            let raw = if out_ts.encoding.big_endian {
                planar.to_be_bytes()
            } else {
                planar.to_le_bytes()
            };
            ds.put(Element::bytes(PLANAR_CONFIGURATION, VR::US, raw.to_vec()));
        }
        ds.put(Element::text(BURNED_IN_ANNOTATION, VR::CS, "NO"));
        Ok(Redacted {
            element,
            outcome: PixelOutcome {
                rules: self.rules.clone(),
                frames: info.frames,
                regions: self.regions.iter().map(|(r, _)| r.len()).sum(),
                transfer_syntax: out_ts.uid.clone(),
                photometric_interpretation: info.photometric.clone(),
                notes,
                warnings: Vec::new(),
            },
            transfer_syntax: out_ts,
        })
    }

    fn fills(&self, info: &ImageInfo, ds: &Dataset) -> Vec<(Vec<PixelRect>, redact::FillSpec)> {
        self.regions
            .iter()
            .cloned()
            .map(|(rects, fill)| {
                (
                    rects,
                    redact::FillSpec::new(fill, info, ds, self.big_endian),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(pairs: &[(Tag, &str)]) -> Dataset {
        let mut ds = Dataset::new();
        for (tag, v) in pairs {
            ds.put(Element::text(*tag, VR::CS, v));
        }
        ds
    }

    #[test]
    fn which_images_need_cleaning() {
        assert!(needs_cleaning(&ds(&[
            (BURNED_IN_ANNOTATION, "YES"),
            (MODALITY, "CT")
        ])));
        assert!(!needs_cleaning(&ds(&[
            (BURNED_IN_ANNOTATION, "NO"),
            (MODALITY, "US")
        ])));
        assert!(needs_cleaning(&ds(&[(MODALITY, "US")])));
        assert!(needs_cleaning(&ds(&[(MODALITY, "OT")])));
        assert!(!needs_cleaning(&ds(&[(MODALITY, "CT")])));
        assert!(needs_cleaning(&ds(&[(
            SOP_CLASS_UID,
            "1.2.840.10008.5.1.4.1.1.7.4"
        )])));
        // VL images are not Secondary Capture.
        assert!(!needs_cleaning(&ds(&[(
            SOP_CLASS_UID,
            "1.2.840.10008.5.1.4.1.1.77.1.1"
        )])));
    }
}
