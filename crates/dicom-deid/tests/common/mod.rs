//! Helpers shared by the integration tests.
#![allow(dead_code)]

use dicom_deid::dataset::{Dataset, Value};
use dicom_deid::io::Source;
use std::path::PathBuf;

/// `../shared` beside the workspace, or `$DEID_SHARED_DIR`. CI always has it: a missing
/// directory fails the test instead of skipping it.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("DEID_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    assert!(
        dir.is_dir(),
        "shared material not found at {} (set DEID_SHARED_DIR)",
        dir.display()
    );
    dir
}

/// Parses a whole file with our reader: header, pixel value, trailer.
pub fn parse(bytes: &[u8]) -> Result<(Dataset, Dataset), dicom_deid::io::ReadError> {
    let mut src = Source::new(bytes, Some(bytes.len() as u64));
    let mut header = src.read_header()?;
    if let Some(px) = header.pixel {
        let value = src.read_pixel_value(&px)?;
        header.dataset.put(dicom_deid::dataset::Element {
            tag: px.tag,
            vr: px.vr,
            value,
        });
    }
    let trailer = src.read_trailer()?;
    for e in trailer.into_elements() {
        header.dataset.put(e);
    }
    Ok((header.meta, header.dataset))
}

/// The data set part of an output file, inflated when deflated, for byte searches.
pub fn searchable_bytes(bytes: &[u8]) -> Vec<u8> {
    let ts = b"1.2.840.10008.1.2.1.99";
    let is_deflated = bytes.len() > 132
        && bytes[..1024.min(bytes.len())]
            .windows(ts.len())
            .any(|w| w == ts);
    if !is_deflated {
        return bytes.to_vec();
    }
    // Meta group length tells where the deflate stream starts.
    let group_len = u32::from_le_bytes([bytes[140], bytes[141], bytes[142], bytes[143]]) as usize;
    let start = 144 + group_len;
    let mut out = bytes[..start].to_vec();
    let mut dec = flate2_inflate(&bytes[start..]);
    out.append(&mut dec);
    out
}

fn flate2_inflate(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .read_to_end(&mut out)
        .expect("output deflate stream is valid");
    out
}

/// Calls `f` on every element at every depth.
pub fn walk<'a>(ds: &'a Dataset, f: &mut dyn FnMut(&'a dicom_deid::dataset::Element, usize)) {
    fn go<'a>(
        ds: &'a Dataset,
        depth: usize,
        f: &mut dyn FnMut(&'a dicom_deid::dataset::Element, usize),
    ) {
        for e in ds.elements() {
            f(e, depth);
            if let Value::Items(items) = &e.value {
                for item in items {
                    go(item, depth + 1, f);
                }
            }
        }
    }
    go(ds, 0, f)
}

/// The pixels of `path` as decoded by pydicom (an independent decoder), written to `raw`:
/// samples as little-endian bytes, all frames or only the first. Returns the photometric
/// interpretation, the transfer syntax and Burned In Annotation (`-` when absent), and the
/// samples.
pub fn pydicom_pixels(
    path: &std::path::Path,
    raw: &std::path::Path,
    first_frame_only: bool,
) -> (String, String, String, Vec<u8>) {
    let script = r#"
import sys, pydicom
from pydicom.pixels import pixel_array
ds = pydicom.dcmread(sys.argv[1])
a = pixel_array(sys.argv[1], raw=True, index=0) if sys.argv[3] == "first" else pixel_array(sys.argv[1], raw=True)
a.astype(a.dtype.newbyteorder('<')).tofile(sys.argv[2])
print(ds.PhotometricInterpretation, ds.file_meta.TransferSyntaxUID, ds.get('BurnedInAnnotation', '-'), sep='|')
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .arg(raw)
        .arg(if first_frame_only { "first" } else { "all" })
        .output()
        .expect("python3 with pydicom and numpy");
    assert!(
        out.status.success(),
        "pydicom cannot decode {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut parts = text.split('|').map(str::to_string);
    let mut next = || parts.next().expect("three fields");
    (next(), next(), next(), std::fs::read(raw).unwrap())
}
