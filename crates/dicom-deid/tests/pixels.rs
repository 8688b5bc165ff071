//! Burned-in text redaction on generated images, in every supported encoding, checked by a
//! second reader (pydicom, whose RLE decoder is independent of ours; dcmtk and GDCM make
//! the encapsulated inputs and decode the lossy ones for reference).
//!
//! Each generated image has a known pattern; after de-identification with a rectangle rule,
//! every sample inside the rectangles must be "black" for the output photometric
//! interpretation and every sample outside must equal the original (bit-exact for lossless
//! inputs, within a small tolerance of dcmtk's/GDCM's decoding for lossy ones), on every frame.

mod common;

use dicom_core::{Tag, VR};
use dicom_deid::dataset::{Dataset, Element, Value};
use dicom_deid::io::{self, Encoding};
use dicom_deid::pixels::{BurnedInPolicy, PixelRules};
use dicom_deid::{DeidOption, Deidentifier, Key};
use std::path::{Path, PathBuf};
use std::process::Command;

const RULES: &str = r#"
[[rule]]
name = "box"
[rule.when]
Modality = "OT"
[[rule.rect]]
x = 3
y = 2
width = 11
height = 7
[[rule.rect]]
x = 0
y = -3           # the bottom 3 rows
width = "100%"
height = 3
"#;

/// Whether a pixel is inside the RULES rectangles for an image of `rows` rows.
fn inside(x: usize, y: usize, rows: usize) -> bool {
    ((3..14).contains(&x) && (2..9).contains(&y)) || y >= rows - 3
}

#[derive(Clone, Copy, Debug)]
struct Img {
    pi: &'static str,
    spp: usize,
    bits: u16,
    stored: u16,
    signed: bool,
    planar: bool,
    rows: usize,
    cols: usize,
    frames: usize,
    big_endian: bool,
}

impl Img {
    fn new(pi: &'static str, bits: u16) -> Img {
        Img {
            pi,
            spp: if pi.starts_with("MONO") || pi == "PALETTE COLOR" {
                1
            } else {
                3
            },
            bits,
            stored: bits,
            signed: false,
            planar: false,
            rows: 24,
            cols: 32,
            frames: 3,
            big_endian: false,
        }
    }
    fn bytes(&self) -> usize {
        usize::from(self.bits / 8)
    }
}

/// Samples, pixel-interleaved little-endian, sign-extended to the allocated width.
fn pattern(img: &Img) -> Vec<u8> {
    let mut out = Vec::new();
    let mut state: u32 = 0x1234_5678;
    for f in 0..img.frames {
        for y in 0..img.rows {
            for x in 0..img.cols {
                for s in 0..img.spp {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    // Smooth enough for lossy codecs, with some noise.
                    let base = ((x * 7 + y * 5 + f * 13 + s * 40) % 200) as i64;
                    let noise = i64::from(state >> 29);
                    let mut v = (base + noise) << (img.stored.saturating_sub(8));
                    let max = 1i64 << img.stored;
                    v %= max;
                    if img.signed {
                        v -= max / 2;
                    }
                    out.extend_from_slice(&(v as u64).to_le_bytes()[..img.bytes()]);
                }
            }
        }
    }
    out
}

/// YBR_FULL_422 keeps the chroma of the first pixel of each pair: the full-resolution
/// samples a reader shows for it.
fn subsample_422(img: &Img, samples: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut stored = Vec::new();
    let mut shown = Vec::new();
    for pair in samples.chunks_exact(6) {
        stored.extend_from_slice(&[pair[0], pair[3], pair[1], pair[2]]);
        shown.extend_from_slice(&[pair[0], pair[1], pair[2], pair[3], pair[1], pair[2]]);
    }
    assert_eq!(img.bits, 8);
    (stored, shown)
}

/// A native explicit VR little endian file with the image (planar as `img.planar`).
fn native_file(img: &Img, samples: &[u8]) -> Vec<u8> {
    let le16 = |v: u16| {
        if img.big_endian {
            v.to_be_bytes().to_vec()
        } else {
            v.to_le_bytes().to_vec()
        }
    };
    let mut ds = Dataset::new();
    ds.put(Element::text(
        Tag(0x0008, 0x0016),
        VR::UI,
        "1.2.840.10008.5.1.4.1.1.7",
    ));
    ds.put(Element::text(Tag(0x0008, 0x0018), VR::UI, "1.2.3.4.5.6.7"));
    ds.put(Element::text(Tag(0x0008, 0x0060), VR::CS, "OT"));
    ds.put(Element::text(Tag(0x0008, 0x0070), VR::LO, "ACME"));
    ds.put(Element::text(Tag(0x0010, 0x0010), VR::PN, "Doe^John"));
    ds.put(Element::text(Tag(0x0010, 0x0020), VR::LO, "PID123"));
    ds.put(Element::text(Tag(0x0020, 0x000D), VR::UI, "1.2.3.4.5.1"));
    ds.put(Element::text(Tag(0x0020, 0x000E), VR::UI, "1.2.3.4.5.2"));
    ds.put(Element::bytes(
        Tag(0x0028, 0x0002),
        VR::US,
        le16(img.spp as u16),
    ));
    ds.put(Element::text(Tag(0x0028, 0x0004), VR::CS, img.pi));
    if img.spp == 3 {
        ds.put(Element::bytes(
            Tag(0x0028, 0x0006),
            VR::US,
            le16(img.planar as u16),
        ));
    }
    ds.put(Element::text(
        Tag(0x0028, 0x0008),
        VR::IS,
        &img.frames.to_string(),
    ));
    ds.put(Element::bytes(
        Tag(0x0028, 0x0010),
        VR::US,
        le16(img.rows as u16),
    ));
    ds.put(Element::bytes(
        Tag(0x0028, 0x0011),
        VR::US,
        le16(img.cols as u16),
    ));
    ds.put(Element::bytes(Tag(0x0028, 0x0100), VR::US, le16(img.bits)));
    ds.put(Element::bytes(
        Tag(0x0028, 0x0101),
        VR::US,
        le16(img.stored),
    ));
    ds.put(Element::bytes(
        Tag(0x0028, 0x0102),
        VR::US,
        le16(img.stored - 1),
    ));
    ds.put(Element::bytes(
        Tag(0x0028, 0x0103),
        VR::US,
        le16(img.signed as u16),
    ));
    ds.put(Element::text(Tag(0x0028, 0x0301), VR::CS, "YES"));
    if img.pi == "PALETTE COLOR" {
        // Entry i is (255 - i): the darkest entry is 255, not 0.
        let lut: Vec<u8> = (0..256u16)
            .flat_map(|i| ((255 - i) * 257).to_le_bytes())
            .collect();
        for el in 0x1101..=0x1103 {
            let d: Vec<u8> = [256u16, 0, 16]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            ds.put(Element::bytes(Tag(0x0028, el), VR::US, d));
        }
        for el in 0x1201..=0x1203 {
            ds.put(Element::bytes(Tag(0x0028, el), VR::OW, lut.clone()));
        }
    }
    // Planar configuration 1: rearrange each frame.
    let data = if img.planar {
        let (b, plane) = (img.bytes(), img.rows * img.cols);
        let mut out = vec![0u8; samples.len()];
        for f in 0..img.frames {
            let base = f * plane * img.spp * b;
            for p in 0..plane {
                for s in 0..img.spp {
                    let src = base + (p * img.spp + s) * b;
                    let dst = base + (s * plane + p) * b;
                    out[dst..dst + b].copy_from_slice(&samples[src..src + b]);
                }
            }
        }
        out
    } else {
        samples.to_vec()
    };
    let data = if img.pi == "YBR_FULL_422" {
        subsample_422(img, &data).0
    } else if img.big_endian {
        data.chunks_exact(img.bytes())
            .flat_map(|c| c.iter().rev().copied().collect::<Vec<u8>>())
            .collect()
    } else {
        data
    };
    let (ts, enc) = if img.big_endian {
        ("1.2.840.10008.1.2.2", Encoding::EXPLICIT_BE)
    } else {
        ("1.2.840.10008.1.2.1", Encoding::EXPLICIT_LE)
    };
    let mut meta = Dataset::new();
    meta.put(Element::bytes(Tag(0x0002, 0x0001), VR::OB, vec![0, 1]));
    meta.put(Element::text(
        Tag(0x0002, 0x0002),
        VR::UI,
        "1.2.840.10008.5.1.4.1.1.7",
    ));
    meta.put(Element::text(Tag(0x0002, 0x0003), VR::UI, "1.2.3.4.5.6.7"));
    meta.put(Element::text(Tag(0x0002, 0x0010), VR::UI, ts));
    meta.put(Element::text(Tag(0x0002, 0x0012), VR::UI, "1.2.3.4"));
    let mut out = Vec::new();
    io::write_file_start(&mut out, &meta).unwrap();
    io::write_dataset(&mut out, &ds, enc).unwrap();
    let vr = if img.bits == 8 { VR::OB } else { VR::OW };
    let mut data = data;
    if data.len() % 2 == 1 {
        data.push(0);
    }
    io::write_element(
        &mut out,
        &Element {
            tag: Tag(0x7FE0, 0x0010),
            vr,
            value: Value::Bytes(data),
        },
        enc,
    )
    .unwrap();
    out
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} not runnable ({e}); install dcmtk / libgdcm-tools"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// pydicom's decoding: (photometric, transfer syntax, burned-in annotation, samples as
/// little-endian bytes, frames × rows × cols × samples, colour-by-pixel).
fn pydicom_decode(path: &Path, dir: &Path) -> (String, String, String, Vec<u8>) {
    let raw = dir.join(format!(
        "{}.raw",
        path.file_name().unwrap().to_string_lossy()
    ));
    common::pydicom_pixels(path, &raw, false)
}

fn deidentify(input: &Path, output: &Path) -> dicom_deid::Outcome {
    let deid = Deidentifier::builder()
        .key(Key::from_bytes(b"pixel-test-key-0123456789abcdef!").unwrap())
        .option(DeidOption::CleanPixelData)
        .pixel_rules(PixelRules::from_toml(RULES).unwrap())
        .build()
        .unwrap();
    deid.deidentify_file(input, output)
        .unwrap_or_else(|e| panic!("{}: {e}", input.display()))
}

fn sample(data: &[u8], at: usize, b: usize, signed: bool) -> i64 {
    let mut v: u64 = 0;
    for &byte in data[at..at + b].iter().rev() {
        v = (v << 8) | u64::from(byte);
    }
    if signed {
        let shift = 64 - 8 * b as u32;
        ((v << shift) as i64) >> shift
    } else {
        v as i64
    }
}

/// Checks the redacted output against the reference samples.
#[allow(clippy::needless_range_loop)]
fn check(label: &str, img: &Img, reference: &[u8], output: &[u8], black: &[i64], tolerance: i64) {
    let b = img.bytes();
    assert_eq!(output.len(), reference.len(), "{label}: decoded size");
    let mut outside_diffs = 0;
    for f in 0..img.frames {
        for y in 0..img.rows {
            for x in 0..img.cols {
                for s in 0..img.spp {
                    let at = (((f * img.rows + y) * img.cols + x) * img.spp + s) * b;
                    let got = sample(output, at, b, img.signed);
                    if inside(x, y, img.rows) {
                        assert_eq!(
                            got, black[s],
                            "{label}: frame {f} ({x},{y}) sample {s} not blanked"
                        );
                    } else {
                        let want = sample(reference, at, b, img.signed);
                        if (got - want).abs() > tolerance {
                            outside_diffs += 1;
                            assert!(
                                outside_diffs > 0 && tolerance > 0 || got == want,
                                "{label}: frame {f} ({x},{y}) sample {s} changed: {want} -> {got}"
                            );
                        }
                    }
                }
            }
        }
    }
    assert_eq!(
        outside_diffs, 0,
        "{label}: {outside_diffs} samples outside the regions changed"
    );
}

struct Case {
    label: &'static str,
    img: Img,
    /// Tool and arguments turning the native file into the input (None: native input).
    encode: Option<(&'static str, &'static [&'static str])>,
    /// Tool decoding a lossy input for reference (None: lossless, compare to the pattern).
    reference: Option<(&'static str, &'static [&'static str])>,
    /// Photometric interpretation and transfer syntax expected in the output.
    out_pi: &'static str,
    out_ts: &'static str,
    black: &'static [i64],
}

fn run_case(c: &Case, dir: &Path) {
    let samples = pattern(&c.img);
    let native = dir.join(format!("{}-native.dcm", c.label));
    std::fs::write(&native, native_file(&c.img, &samples)).unwrap();
    let input: PathBuf = match c.encode {
        None => native.clone(),
        Some((tool, args)) => {
            let p = dir.join(format!("{}-in.dcm", c.label));
            let mut all: Vec<&str> = args.to_vec();
            let (n, i) = (native.to_str().unwrap(), p.to_str().unwrap());
            all.push(n);
            all.push(i);
            run(tool, &all);
            p
        }
    };
    let reference = match c.reference {
        None if c.img.pi == "YBR_FULL_422" => subsample_422(&c.img, &samples).1,
        None => samples.clone(),
        Some((tool, args)) => {
            let p = dir.join(format!("{}-ref.dcm", c.label));
            let mut all: Vec<&str> = args.to_vec();
            all.push(input.to_str().unwrap());
            all.push(p.to_str().unwrap());
            run(tool, &all);
            pydicom_decode(&p, dir).3
        }
    };
    let output = dir.join(format!("{}-out.dcm", c.label));
    let outcome = deidentify(&input, &output);
    let px = outcome.pixels.as_ref().expect("pixel outcome");
    assert_eq!(px.frames as usize, c.img.frames, "{}", c.label);
    assert_eq!(px.transfer_syntax, c.out_ts, "{}", c.label);
    assert!(
        outcome.codes.iter().any(|code| code == "113101"),
        "{}",
        c.label
    );
    let (pi, ts, bia, decoded) = pydicom_decode(&output, dir);
    assert_eq!(pi, c.out_pi, "{}: photometric", c.label);
    assert_eq!(ts, c.out_ts, "{}: transfer syntax", c.label);
    assert_eq!(bia, "NO", "{}: BurnedInAnnotation", c.label);
    let tolerance = if c.reference.is_some() { 4 } else { 0 };
    check(c.label, &c.img, &reference, &decoded, c.black, tolerance);
    if c.out_ts == dicom_deid::pixels::RLE_LOSSLESS {
        // A second RLE decoder (dcmtk) must accept the output too.
        let d = dir.join(format!("{}-dcmdrle.dcm", c.label));
        run("dcmdrle", &[output.to_str().unwrap(), d.to_str().unwrap()]);
        let (_, _, _, by_dcmtk) = pydicom_decode(&d, dir);
        assert_eq!(by_dcmtk, decoded, "{}: dcmtk and pydicom disagree", c.label);
    }
    if c.encode.is_some() && c.reference.is_some() {
        assert!(
            px.notes
                .iter()
                .any(|n| n.contains("no new lossy generation")),
            "{}: {:?}",
            c.label,
            px.notes
        );
    }
}

const NATIVE: &str = "1.2.840.10008.1.2.1";
const RLE: &str = "1.2.840.10008.1.2.5";

fn cases() -> Vec<Case> {
    let mono2_8 = Img::new("MONOCHROME2", 8);
    let mono1_16s = Img {
        signed: true,
        stored: 12,
        ..Img::new("MONOCHROME1", 16)
    };
    let mono2_16s = Img {
        signed: true,
        ..Img::new("MONOCHROME2", 16)
    };
    let mono2_32 = Img::new("MONOCHROME2", 32);
    let mono2_16_12 = Img {
        stored: 12,
        ..Img::new("MONOCHROME2", 16)
    };
    let rgb = Img::new("RGB", 8);
    let rgb_planar = Img {
        planar: true,
        ..rgb
    };
    let ybr_planar = Img {
        planar: true,
        ..Img::new("YBR_FULL", 8)
    };
    let rgb16 = Img::new("RGB", 16);
    let palette = Img::new("PALETTE COLOR", 8);
    let big16 = Img {
        rows: 64,
        cols: 96,
        ..mono2_16_12
    };
    vec![
        Case {
            label: "native-mono2-8",
            img: mono2_8,
            encode: None,
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: NATIVE,
            black: &[0],
        },
        Case {
            label: "native-mono1-16s",
            img: mono1_16s,
            encode: None,
            reference: None,
            out_pi: "MONOCHROME1",
            out_ts: NATIVE,
            black: &[2047],
        },
        Case {
            label: "native-mono2-16s",
            img: mono2_16s,
            encode: None,
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: NATIVE,
            black: &[-32768],
        },
        Case {
            label: "native-mono2-32",
            img: mono2_32,
            encode: None,
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: NATIVE,
            black: &[0],
        },
        Case {
            label: "native-rgb",
            img: rgb,
            encode: None,
            reference: None,
            out_pi: "RGB",
            out_ts: NATIVE,
            black: &[0, 0, 0],
        },
        Case {
            label: "native-rgb-planar",
            img: rgb_planar,
            encode: None,
            reference: None,
            out_pi: "RGB",
            out_ts: NATIVE,
            black: &[0, 0, 0],
        },
        Case {
            label: "native-ybr-planar",
            img: ybr_planar,
            encode: None,
            reference: None,
            out_pi: "YBR_FULL",
            out_ts: NATIVE,
            black: &[0, 128, 128],
        },
        Case {
            label: "native-palette",
            img: palette,
            encode: None,
            reference: None,
            out_pi: "PALETTE COLOR",
            out_ts: NATIVE,
            black: &[255],
        },
        Case {
            label: "rle-mono2-16",
            img: mono2_16_12,
            encode: Some(("dcmcrle", &[])),
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: RLE,
            black: &[0],
        },
        Case {
            label: "rle-rgb",
            img: rgb,
            encode: Some(("dcmcrle", &[])),
            reference: None,
            out_pi: "RGB",
            out_ts: RLE,
            black: &[0, 0, 0],
        },
        Case {
            label: "rle-ybr",
            img: Img::new("YBR_FULL", 8),
            encode: Some(("dcmcrle", &[])),
            reference: None,
            out_pi: "YBR_FULL",
            out_ts: RLE,
            black: &[0, 128, 128],
        },
        Case {
            label: "rle-mono2-32",
            img: mono2_32,
            encode: Some(("dcmcrle", &[])),
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: RLE,
            black: &[0],
        },
        Case {
            label: "jpegls-mono2-16",
            img: mono2_16_12,
            encode: Some(("dcmcjpls", &[])),
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: RLE,
            black: &[0],
        },
        Case {
            label: "jpegls-mono2-8",
            img: mono2_8,
            encode: Some(("dcmcjpls", &[])),
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: RLE,
            black: &[0],
        },
        Case {
            label: "jpegls-rgb",
            img: rgb,
            encode: Some(("dcmcjpls", &[])),
            reference: None,
            out_pi: "RGB",
            out_ts: RLE,
            black: &[0, 0, 0],
        },
        Case {
            label: "jpegls-rgb-ilv-none",
            img: rgb,
            encode: Some(("dcmcjpls", &["+in"])),
            reference: None,
            out_pi: "RGB",
            out_ts: RLE,
            black: &[0, 0, 0],
        },
        Case {
            label: "jpegls-rgb-ilv-sample",
            img: rgb,
            encode: Some(("dcmcjpls", &["+is"])),
            reference: None,
            out_pi: "RGB",
            out_ts: RLE,
            black: &[0, 0, 0],
        },
        Case {
            label: "jpegls-fragmented-with-bot",
            img: big16,
            encode: Some(("dcmcjpls", &["+fs", "1", "+ot"])),
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: RLE,
            black: &[0],
        },
        Case {
            label: "jpegls-fragmented-no-bot",
            img: big16,
            encode: Some(("dcmcjpls", &["+fs", "1", "-ot"])),
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: RLE,
            black: &[0],
        },
        Case {
            label: "native-mono2-16s-big-endian",
            img: Img {
                big_endian: true,
                ..mono2_16s
            },
            encode: None,
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: "1.2.840.10008.1.2.2",
            black: &[-32768],
        },
        Case {
            label: "native-rgb16-planar-big-endian",
            img: Img {
                big_endian: true,
                planar: true,
                stored: 12,
                ..rgb16
            },
            encode: None,
            reference: None,
            out_pi: "RGB",
            out_ts: "1.2.840.10008.1.2.2",
            black: &[0, 0, 0],
        },
        Case {
            label: "native-ybr422",
            img: Img::new("YBR_FULL_422", 8),
            encode: None,
            reference: None,
            out_pi: "YBR_FULL",
            out_ts: NATIVE,
            black: &[0, 128, 128],
        },
        Case {
            label: "jpeg-lossless-sv1-mono2-16",
            img: mono2_16_12,
            encode: Some(("dcmcjpeg", &["+e1"])),
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: RLE,
            black: &[0],
        },
        Case {
            label: "jpeg-lossless-sv1-rgb",
            img: rgb,
            encode: Some(("dcmcjpeg", &["+e1"])),
            reference: None,
            out_pi: "RGB",
            out_ts: RLE,
            black: &[0, 0, 0],
        },
        Case {
            label: "jpeg-lossless-p14-mono2-8",
            img: mono2_8,
            encode: Some(("dcmcjpeg", &["+el"])),
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: RLE,
            black: &[0],
        },
        Case {
            label: "j2k-lossless-mono2-16",
            img: mono2_16_12,
            encode: Some(("gdcmconv", &["--j2k"])),
            reference: None,
            out_pi: "MONOCHROME2",
            out_ts: RLE,
            black: &[0],
        },
        Case {
            label: "j2k-lossless-rgb",
            img: rgb,
            encode: Some(("gdcmconv", &["--j2k"])),
            reference: None,
            out_pi: "RGB",
            out_ts: RLE,
            black: &[0, 0, 0],
        },
        Case {
            label: "rle-rgb16",
            img: Img {
                stored: 12,
                ..rgb16
            },
            encode: Some(("dcmcrle", &[])),
            reference: None,
            out_pi: "RGB",
            out_ts: RLE,
            black: &[0, 0, 0],
        },
        Case {
            label: "jpegls-rgb16",
            img: Img {
                stored: 12,
                ..rgb16
            },
            encode: Some(("dcmcjpls", &[])),
            reference: None,
            out_pi: "RGB",
            out_ts: RLE,
            black: &[0, 0, 0],
        },
        Case {
            label: "jpeg-baseline-mono2",
            img: mono2_8,
            encode: Some(("dcmcjpeg", &["+eb"])),
            reference: Some(("dcmdjpeg", &[])),
            out_pi: "MONOCHROME2",
            out_ts: RLE,
            black: &[0],
        },
        Case {
            label: "jpeg-baseline-ybr422",
            img: rgb,
            encode: Some(("dcmcjpeg", &["+eb"])),
            reference: Some(("dcmdjpeg", &[])),
            out_pi: "RGB",
            out_ts: RLE,
            black: &[0, 0, 0],
        },
        Case {
            label: "j2k-lossy-mono2",
            img: mono2_8,
            encode: Some(("gdcmconv", &["--j2k", "--lossy", "-q", "60"])),
            reference: Some(("gdcmconv", &["--raw"])),
            out_pi: "MONOCHROME2",
            out_ts: RLE,
            black: &[0],
        },
    ]
}

#[test]
fn redaction_in_every_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let only = std::env::var("PIXEL_CASE").ok();
    let mut failures = Vec::new();
    for c in cases() {
        if only.as_deref().is_some_and(|o| !c.label.contains(o)) {
            continue;
        }
        if c.label.starts_with("jpegls") && !cfg!(feature = "jpeg-ls") {
            println!("{}: skipped (build with --features jpeg-ls)", c.label);
            continue;
        }
        let r = std::panic::catch_unwind(|| run_case(&c, dir.path()));
        if let Err(e) = r {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", c.label));
        }
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

#[test]
fn unmatched_burned_in_image_is_rejected_or_passed_with_warning() {
    let dir = tempfile::tempdir().unwrap();
    let img = Img::new("MONOCHROME2", 8);
    let native = dir.path().join("in.dcm");
    let bytes = native_file(&img, &pattern(&img));
    std::fs::write(&native, &bytes).unwrap();
    let out = dir.path().join("out.dcm");
    let builder = || {
        Deidentifier::builder()
            .key(Key::from_bytes(b"pixel-test-key-0123456789abcdef!").unwrap())
            .option(DeidOption::CleanPixelData)
            .pixel_rules(
                PixelRules::from_toml(
                    "[[rule]]\nname='us'\nkind='ultrasound-regions'\n[rule.when]\nModality='US'",
                )
                .unwrap(),
            )
    };
    let err = builder()
        .build()
        .unwrap()
        .deidentify_file(&native, &out)
        .unwrap_err();
    assert_eq!(err.kind(), "burned-in-not-cleaned", "{err}");
    assert!(!out.exists());
    let outcome = builder()
        .burned_in_policy(BurnedInPolicy::PassWithWarning)
        .build()
        .unwrap()
        .deidentify_file(&native, &out)
        .unwrap();
    let px = outcome.pixels.expect("a warning");
    assert_eq!(px.frames, 0);
    assert_eq!(px.warnings.len(), 1);
    // The pixels were streamed untouched.
    let (_, ds_in) = common::parse(&bytes).unwrap();
    let (_, ds_out) = common::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        ds_in.get(Tag(0x7FE0, 0x0010)),
        ds_out.get(Tag(0x7FE0, 0x0010))
    );
    // Without the option, nothing changes either.
    let outcome = Deidentifier::builder()
        .key(Key::from_bytes(b"pixel-test-key-0123456789abcdef!").unwrap())
        .build()
        .unwrap()
        .deidentify_file(&native, &out)
        .unwrap();
    assert!(outcome.pixels.is_none());
    assert!(outcome.pixel_bytes > 0);
}
