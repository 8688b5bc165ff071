//! Burned-in text redaction on the Burned In Annotation = YES files of the real corpus.
//!
//! With the shipped rules, the ultrasound with a Sequence of Ultrasound Regions is cleaned
//! (everything outside its data region blanked) and the others are rejected (fail closed).
//! With a user rule (the top 10% of rows), all four are cleaned; the output is decoded by
//! pydicom and compared with our decoding of the input: the band is black, the rest is
//! unchanged (the two lossless inputs bit for bit; the lossy JPEG 2000 too, since its
//! decoded samples are written losslessly).

mod common;

use dicom_deid::pixels::{PixelRules, qa};
use dicom_deid::{DeidOption, Deidentifier, Key};
use std::path::Path;
use std::process::Command;

const FILES: &[&str] = &[
    "deid-data/ultrasounds/GREYSCALE_IMAGE.dcm",
    "dicognito/test_burned_in_annotation_default/burned_in_yes.dcm",
    "fo-dicom/GH364.dcm",
    "fo-dicom/GH1728.dcm",
];

fn deid(rules: PixelRules) -> Deidentifier {
    Deidentifier::builder()
        .key(Key::from_bytes(b"pixel-corpus-key-0123456789abcdef").unwrap())
        .option(DeidOption::CleanPixelData)
        .pixel_rules(rules)
        .build()
        .unwrap()
}

/// pydicom's decoding of the first frame: (photometric, burned-in, little-endian samples).
fn pydicom_first_frame(path: &Path) -> (String, String, Vec<u8>) {
    let raw = path.with_extension("raw");
    let (pi, _, bia, samples) = common::pydicom_pixels(path, &raw, true);
    (pi, bia, samples)
}

/// Compares output and reference frames: `blank(x, y)` pixels must be `black`, the rest equal.
fn compare(
    label: &str,
    reference: &[u8],
    output: &[u8],
    info: &dicom_deid::pixels::ImageInfo,
    blank: impl Fn(u32, u32) -> bool,
) {
    assert_eq!(reference.len(), output.len(), "{label}: size");
    let b = info.bytes();
    let spp = usize::from(info.samples);
    let bs = u32::from(info.bits_stored);
    let mask = u64::MAX >> (64 - 8 * b as u32);
    let black = match (info.photometric.as_str(), info.signed) {
        ("MONOCHROME1", false) => (1u64 << bs) - 1,
        ("MONOCHROME1", true) => (1u64 << (bs - 1)) - 1,
        (_, true) => (-(1i64 << (bs - 1))) as u64 & mask,
        _ => 0,
    };
    let (mut blanked, mut kept) = (0, 0);
    for y in 0..info.rows {
        for x in 0..info.cols {
            for s in 0..spp {
                let at = ((y as usize * info.cols as usize + x as usize) * spp + s) * b;
                let got = &output[at..at + b];
                if blank(x, y) {
                    let v = got.iter().rev().fold(0u64, |v, &c| (v << 8) | u64::from(c));
                    assert_eq!(v, black, "{label}: ({x},{y}) not blanked");
                    blanked += 1;
                } else {
                    assert_eq!(got, &reference[at..at + b], "{label}: ({x},{y}) changed");
                    kept += 1;
                }
            }
        }
    }
    assert!(
        blanked > 0 && kept > 0,
        "{label}: {blanked} blanked, {kept} kept"
    );
}

#[test]
fn shipped_rules_clean_the_ultrasound_and_reject_the_rest() {
    let root = common::shared_dir().join("corpus/real");
    let dir = tempfile::tempdir().unwrap();
    let deid = deid(PixelRules::default_rules());
    for file in FILES {
        let input = root.join(file);
        let output = dir.path().join("out.dcm");
        let result = deid.deidentify_file(&input, &output);
        if *file == "deid-data/ultrasounds/GREYSCALE_IMAGE.dcm" {
            let outcome = result.unwrap();
            let px = outcome.pixels.unwrap();
            assert_eq!(px.rules, vec!["us-keep-data-regions".to_string()]);
            assert_eq!(px.transfer_syntax, "1.2.840.10008.1.2.1");
            let (info, reference) = qa::first_frame(&input).unwrap();
            let (_, bia, out) = pydicom_first_frame(&output);
            assert_eq!(bia, "NO");
            // The one region: x 14..=1010, y 38..=758.
            compare(file, &reference, &out, &info, |x, y| {
                !((14..=1010).contains(&x) && (38..=758).contains(&y))
            });
            let png = dir.path().join("qa.png");
            qa::write_qa_png(&input, &output, &png).unwrap();
            assert!(std::fs::metadata(&png).unwrap().len() > 1000);
        } else {
            let err = result.expect_err(file);
            assert_eq!(err.kind(), "burned-in-not-cleaned", "{file}: {err}");
        }
    }
}

#[test]
fn a_user_rule_cleans_every_burned_in_file() {
    let root = common::shared_dir().join("corpus/real");
    let dir = tempfile::tempdir().unwrap();
    let rules = PixelRules::from_toml(
        r#"
[[rule]]
name = "top-band"
[rule.when]
BurnedInAnnotation = "YES"
[[rule.rect]]
x = 0
y = 0
width = "100%"
height = "10%"
"#,
    )
    .unwrap();
    let deid = deid(rules);
    for file in FILES {
        let input = root.join(file);
        let output = dir.path().join(file.replace('/', "_"));
        let result = deid.deidentify_file(&input, &output);
        if file.ends_with("GH364.dcm") && !cfg!(feature = "jpeg-ls") {
            // JPEG-LS without its decoder: refused, never passed uncleaned.
            let err = result.expect_err("a JPEG-LS image cannot be cleaned without CharLS");
            assert_eq!(err.kind(), "pixel-decode", "{err}");
            assert!(!output.exists());
            continue;
        }
        let outcome = result.unwrap_or_else(|e| panic!("{file}: {e}"));
        let px = outcome.pixels.unwrap();
        assert_eq!(px.frames, 1, "{file}");
        if file.contains("dicognito") {
            assert!(
                px.notes
                    .iter()
                    .any(|n| n.contains("no new lossy generation")),
                "{px:?}"
            );
        }
        let (info, reference) = qa::first_frame(&input).unwrap();
        let (_, bia, out) = pydicom_first_frame(&output);
        assert_eq!(bia, "NO", "{file}");
        let band = (f64::from(info.rows) * 0.1).round() as u32;
        compare(file, &reference, &out, &info, |_, y| y < band);
    }
}

/// Every corpus file, with a rule that matches every image: redacted, or refused with a
/// typed error; never a panic. pydicom then decodes every output (native or RLE) and finds
/// Burned In Annotation NO and the 4-row band uniform. Prints the tally (--nocapture).
#[test]
fn every_corpus_image_is_redacted_or_refused() {
    let root = common::shared_dir().join("corpus/real");
    let dir = tempfile::tempdir().unwrap();
    let rules = PixelRules::from_toml(
        "[[rule]]\nname='all'\n[[rule.rect]]\nx=0\ny=0\nwidth='100%'\nheight=4\n",
    )
    .unwrap();
    let deid = deid(rules);
    let mut files: Vec<_> = walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    let (mut redacted, mut untouched) = (0, 0);
    let mut refused = std::collections::BTreeMap::<String, Vec<String>>::new();
    let out_dir = dir.path().join("redacted");
    std::fs::create_dir(&out_dir).unwrap();
    for input in &files {
        let output = dir.path().join("out.dcm");
        let name = input.strip_prefix(&root).unwrap().display().to_string();
        match deid.deidentify_file(input, &output) {
            Ok(o) if o.pixels.is_some() => {
                redacted += 1;
                std::fs::rename(&output, out_dir.join(name.replace('/', "_"))).unwrap();
            }
            Ok(_) => untouched += 1,
            Err(e) => refused
                .entry(e.kind().to_string())
                .or_default()
                .push(format!("{name}: {e}")),
        }
    }
    println!("redacted {redacted}, no pixel data {untouched}");
    for (kind, list) in &refused {
        println!("{kind}: {}", list.len());
        for l in list {
            println!("  {l}");
        }
    }
    assert!(redacted > 50, "only {redacted} files redacted");
    // pydicom decodes every redacted output, and its first 4 rows hold one value per sample.
    let script = r#"
import sys, os, pydicom, numpy as np
from pydicom.pixels import pixel_array
bad = []
for f in sorted(os.listdir(sys.argv[1])):
    p = os.path.join(sys.argv[1], f)
    try:
        ds = pydicom.dcmread(p)
        if ds.file_meta.TransferSyntaxUID == '1.2.840.10008.1.2.1.99':
            # pydicom's pixel_array(path) does not inflate; the Dataset path does.
            a = ds.pixel_array
            a = a[0] if int(ds.get('NumberOfFrames', 1) or 1) > 1 else a
        else:
            a = pixel_array(p, raw=True, index=0)
        band = a[:4]
        flat = band.reshape(-1, band.shape[-1]) if a.ndim == 3 else band.reshape(-1, 1)
        if (flat != flat[0]).any():
            bad.append(f + ': band not uniform')
        if ds.BurnedInAnnotation != 'NO':
            bad.append(f + ': BurnedInAnnotation')
    except Exception as e:
        bad.append(f + ': ' + repr(e))
print('\n'.join(bad))
sys.exit(1 if bad else 0)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&out_dir)
        .output()
        .expect("python3 with pydicom and numpy");
    assert!(
        out.status.success(),
        "pydicom on the redacted outputs:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
