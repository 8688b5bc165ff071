//! A deterministic generator of a realistic PACS export tree, for benchmarks and tests.
//!
//! Layout, as PACS exports often are, with patient names and dates in folder and file
//! names (fake PHI): `EXPORT/<LAST>_<FIRST>_<ID>/<DATE>_<MODALITY>/<SERIES>/IM<n>.dcm`.
//! Each patient has a CT series (explicit VR LE, 512×512×16), an MR series (implicit VR
//! LE, 256×256×16), a DX image (explicit VR LE, 2048×2500×16), an ultrasound cine (RLE,
//! RGB 640×480, 10 frames) and a deflated SR-like document; every file carries private
//! tags and nested sequences. At the root: a DICOMDIR-like file, a README, a zero-byte
//! file and a truncated DICOM file.

use dicom_core::{Tag, VR};
use dicom_deid::dataset::{Dataset, Element};
use dicom_deid::io::{BodyWriter, Encoding, write_dataset, write_file_start};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What [`generate`] wrote.
#[derive(Debug, Default, Clone)]
pub struct TreeStats {
    /// DICOM files that a de-identifier should accept.
    pub dicom_files: usize,
    /// Other files (README, zero-byte, truncated, DICOMDIR).
    pub other_files: usize,
    /// Total bytes.
    pub bytes: u64,
}

const FIRST: [&str; 6] = ["JANE", "JOHN", "MARIA", "WEI", "AMINA", "LUKAS"];
const LAST: [&str; 6] = ["DOE", "SMITH", "GARCIA", "ZHANG", "OKAFOR", "MUELLER"];

struct Image<'a> {
    modality: &'a str,
    sop_class: &'a str,
    rows: u16,
    cols: u16,
    samples: u16,
    frames: u32,
    photometric: &'a str,
}

/// Writes a tree of `patients` patients under `root` (created if needed).
pub fn generate(root: &Path, patients: usize) -> io::Result<TreeStats> {
    let mut stats = TreeStats::default();
    let export = root.join("EXPORT");
    std::fs::create_dir_all(&export)?;
    for p in 0..patients {
        let (first, last) = (
            FIRST[p % FIRST.len()],
            LAST[(p / FIRST.len() + p) % LAST.len()],
        );
        let pid = format!("MRN{:07}", 1000 + p);
        let name = format!("{last}^{first}");
        let pdir = export.join(format!("{last}_{first}_{pid}"));
        let date = format!("2024{:02}{:02}", 1 + p % 12, 1 + p % 28);
        let study_uid = format!("1.2.826.0.1.3680043.10.1.{p}.1");
        let patient = Patient {
            name: &name,
            id: &pid,
            date: &date,
            study_uid: &study_uid,
        };
        let series: [(Image, &str, usize, Encoding, bool); 4] = [
            (
                Image {
                    modality: "CT",
                    sop_class: "1.2.840.10008.5.1.4.1.1.2",
                    rows: 512,
                    cols: 512,
                    samples: 1,
                    frames: 1,
                    photometric: "MONOCHROME2",
                },
                "1.2.840.10008.1.2.1",
                40,
                Encoding::EXPLICIT_LE,
                false,
            ),
            (
                Image {
                    modality: "MR",
                    sop_class: "1.2.840.10008.5.1.4.1.1.4",
                    rows: 256,
                    cols: 256,
                    samples: 1,
                    frames: 1,
                    photometric: "MONOCHROME2",
                },
                "1.2.840.10008.1.2",
                30,
                Encoding::IMPLICIT_LE,
                false,
            ),
            (
                Image {
                    modality: "DX",
                    sop_class: "1.2.840.10008.5.1.4.1.1.1.1",
                    rows: 2500,
                    cols: 2048,
                    samples: 1,
                    frames: 1,
                    photometric: "MONOCHROME1",
                },
                "1.2.840.10008.1.2.1",
                1,
                Encoding::EXPLICIT_LE,
                false,
            ),
            (
                Image {
                    modality: "US",
                    sop_class: "1.2.840.10008.5.1.4.1.1.3.1",
                    rows: 480,
                    cols: 640,
                    samples: 3,
                    frames: 10,
                    photometric: "RGB",
                },
                "1.2.840.10008.1.2.5",
                2,
                Encoding::EXPLICIT_LE,
                true,
            ),
        ];
        for (s, (image, ts, count, enc, rle)) in series.iter().enumerate() {
            let sdir = pdir
                .join(format!("{date}_{}_{name}", image.modality).replace('^', "_"))
                .join(format!("SE{}", s + 1));
            std::fs::create_dir_all(&sdir)?;
            let series_uid = format!("{study_uid}.{}", s + 1);
            for i in 0..*count {
                let path = sdir.join(format!("IM{:04}_{}.dcm", i + 1, last));
                let sop_uid = format!("{series_uid}.{}", i + 1);
                let ds = header(&patient, image, &series_uid, &sop_uid, i);
                stats.bytes += write_image(&path, &ds, image, ts, *enc, *rle, i)?;
                stats.dicom_files += 1;
            }
        }
        // A deflated structured-report-like document.
        let sdir = pdir.join(format!("{date}_SR")).join("SE9");
        std::fs::create_dir_all(&sdir)?;
        let image = Image {
            modality: "SR",
            sop_class: "1.2.840.10008.5.1.4.1.1.88.11",
            rows: 0,
            cols: 0,
            samples: 0,
            frames: 0,
            photometric: "",
        };
        let series_uid = format!("{study_uid}.9");
        let ds = header(&patient, &image, &series_uid, &format!("{series_uid}.1"), 0);
        let path = sdir.join(format!("REPORT_{last}.dcm"));
        stats.bytes += write_file(
            &path,
            &ds,
            "1.2.840.10008.1.2.1.99",
            Encoding {
                deflated: true,
                ..Encoding::EXPLICIT_LE
            },
            None,
        )?;
        stats.dicom_files += 1;
    }
    // The things a real export also holds.
    std::fs::write(
        export.join("README.TXT"),
        b"Export of the PACS, see the DICOMDIR.\n",
    )?;
    std::fs::write(export.join("EMPTY.DCM"), b"")?;
    let mut dicomdir = Dataset::new();
    dicomdir.put(Element::text(Tag(0x0004, 0x1130), VR::CS, "EXPORT"));
    dicomdir.put(Element::sequence(Tag(0x0004, 0x1220), vec![Dataset::new()]));
    write_file(
        &root.join("DICOMDIR"),
        &dicomdir,
        "1.2.840.10008.1.2.1",
        Encoding::EXPLICIT_LE,
        None,
    )?;
    let full = std::fs::read(first_dicom(&export)?)?;
    std::fs::write(export.join("TRUNCATED.dcm"), &full[..full.len() / 2])?;
    stats.other_files += 4;
    Ok(stats)
}

struct Patient<'a> {
    name: &'a str,
    id: &'a str,
    date: &'a str,
    study_uid: &'a str,
}

fn header(p: &Patient, image: &Image, series_uid: &str, sop_uid: &str, i: usize) -> Dataset {
    let mut ds = Dataset::new();
    let text =
        |ds: &mut Dataset, g: u16, e: u16, vr: VR, v: &str| ds.put(Element::text(Tag(g, e), vr, v));
    text(&mut ds, 0x0008, 0x0005, VR::CS, "ISO_IR 100");
    text(&mut ds, 0x0008, 0x0016, VR::UI, image.sop_class);
    text(&mut ds, 0x0008, 0x0018, VR::UI, sop_uid);
    text(&mut ds, 0x0008, 0x0020, VR::DA, p.date);
    text(&mut ds, 0x0008, 0x0030, VR::TM, "101500");
    text(
        &mut ds,
        0x0008,
        0x0050,
        VR::SH,
        &format!("ACC{}", &p.id[3..]),
    );
    text(&mut ds, 0x0008, 0x0060, VR::CS, image.modality);
    text(&mut ds, 0x0008, 0x0070, VR::LO, "ACME MEDICAL");
    text(&mut ds, 0x0008, 0x0080, VR::LO, "ST EXAMPLE HOSPITAL");
    text(&mut ds, 0x0008, 0x0090, VR::PN, "HOUSE^GREGORY");
    text(
        &mut ds,
        0x0008,
        0x1030,
        VR::LO,
        &format!("{} study of {}", image.modality, p.name),
    );
    text(&mut ds, 0x0008, 0x1090, VR::LO, "MODEL 9000");
    text(&mut ds, 0x0010, 0x0010, VR::PN, p.name);
    text(&mut ds, 0x0010, 0x0020, VR::LO, p.id);
    text(&mut ds, 0x0010, 0x0030, VR::DA, "19500102");
    text(
        &mut ds,
        0x0010,
        0x0040,
        VR::CS,
        if p.id.ends_with(['0', '2', '4', '6', '8']) {
            "F"
        } else {
            "M"
        },
    );
    text(&mut ds, 0x0010, 0x1010, VR::AS, "074Y");
    text(&mut ds, 0x0018, 0x0015, VR::CS, "CHEST");
    text(&mut ds, 0x0020, 0x000D, VR::UI, p.study_uid);
    text(&mut ds, 0x0020, 0x000E, VR::UI, series_uid);
    text(&mut ds, 0x0020, 0x0013, VR::IS, &(i + 1).to_string());
    text(
        &mut ds,
        0x0020,
        0x0052,
        VR::UI,
        &format!("{}.0", p.study_uid),
    );
    // Private block and a nested private sequence.
    text(&mut ds, 0x0009, 0x0010, VR::LO, "ACME PRIVATE 1.0");
    text(&mut ds, 0x0009, 0x1001, VR::LO, p.name);
    let mut inner = Dataset::new();
    inner.put(Element::text(Tag(0x0008, 0x1155), VR::UI, sop_uid));
    inner.put(Element::text(Tag(0x0010, 0x0010), VR::PN, p.name));
    let mut outer = Dataset::new();
    outer.put(Element::text(Tag(0x0008, 0x1150), VR::UI, image.sop_class));
    outer.put(Element::sequence(Tag(0x0008, 0x2112), vec![inner]));
    ds.put(Element::sequence(Tag(0x0008, 0x1140), vec![outer]));
    if image.rows > 0 {
        let us = |v: u16| v.to_le_bytes().to_vec();
        ds.put(Element::bytes(
            Tag(0x0028, 0x0002),
            VR::US,
            us(image.samples),
        ));
        text(&mut ds, 0x0028, 0x0004, VR::CS, image.photometric);
        if image.frames > 1 {
            text(&mut ds, 0x0028, 0x0008, VR::IS, &image.frames.to_string());
        }
        ds.put(Element::bytes(Tag(0x0028, 0x0010), VR::US, us(image.rows)));
        ds.put(Element::bytes(Tag(0x0028, 0x0011), VR::US, us(image.cols)));
        let bits = if image.samples == 3 { 8 } else { 16 };
        ds.put(Element::bytes(Tag(0x0028, 0x0100), VR::US, us(bits)));
        ds.put(Element::bytes(
            Tag(0x0028, 0x0101),
            VR::US,
            us(if bits == 8 { 8 } else { 12 }),
        ));
        ds.put(Element::bytes(
            Tag(0x0028, 0x0102),
            VR::US,
            us(if bits == 8 { 7 } else { 11 }),
        ));
        ds.put(Element::bytes(Tag(0x0028, 0x0103), VR::US, us(0)));
        if image.samples == 3 {
            ds.put(Element::bytes(Tag(0x0028, 0x0006), VR::US, us(0)));
        }
    } else {
        let mut item = Dataset::new();
        text(&mut item, 0x0040, 0xA040, VR::CS, "TEXT");
        text(
            &mut item,
            0x0040,
            0xA160,
            VR::UT,
            &format!("Findings for {}: no acute abnormality.", p.name),
        );
        ds.put(Element::sequence(Tag(0x0040, 0xA730), vec![item]));
    }
    ds
}

/// Pixel data of one image: a smooth deterministic pattern (12 bits in 16, or RGB).
fn pixels(image: &Image, seed: usize) -> Vec<u8> {
    let (rows, cols, spp) = (
        image.rows as usize,
        image.cols as usize,
        image.samples as usize,
    );
    let frames = image.frames.max(1) as usize;
    let bytes_per = if spp == 3 { 1 } else { 2 };
    let mut out = Vec::with_capacity(rows * cols * spp * frames * bytes_per);
    for f in 0..frames {
        for y in 0..rows {
            for x in 0..cols {
                let v = ((x * 3 + y * 5 + f * 7 + seed * 11) % 4096) as u16;
                if spp == 3 {
                    out.extend_from_slice(&[(v & 0xFF) as u8, (v >> 4) as u8, (x ^ y) as u8]);
                } else {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    out
}

/// RLE (PS3.5 Annex G) of one frame: one segment per colour plane, literal runs only
/// (valid RLE, not small: the benchmark needs the bytes, not the ratio).
fn rle_frame(frame: &[u8], samples: usize) -> Vec<u8> {
    let mut segments: Vec<Vec<u8>> = Vec::new();
    for s in 0..samples {
        let plane: Vec<u8> = frame.iter().skip(s).step_by(samples).copied().collect();
        let mut seg = Vec::with_capacity(plane.len() + plane.len() / 128 + 2);
        for chunk in plane.chunks(128) {
            seg.push((chunk.len() - 1) as u8);
            seg.extend_from_slice(chunk);
        }
        if seg.len() % 2 == 1 {
            seg.push(0x80); // no-op
        }
        segments.push(seg);
    }
    let mut header = [0u32; 16];
    header[0] = segments.len() as u32;
    let mut offset = 64u32;
    for (i, seg) in segments.iter().enumerate() {
        header[i + 1] = offset;
        offset += seg.len() as u32;
    }
    let mut out: Vec<u8> = header.iter().flat_map(|v| v.to_le_bytes()).collect();
    for seg in segments {
        out.extend(seg);
    }
    out
}

fn write_image(
    path: &Path,
    ds: &Dataset,
    image: &Image,
    ts: &str,
    enc: Encoding,
    rle: bool,
    seed: usize,
) -> io::Result<u64> {
    let data = pixels(image, seed);
    let pixel = if rle {
        let frame_len = data.len() / image.frames.max(1) as usize;
        let mut fragments = vec![Vec::new()]; // empty Basic Offset Table
        for frame in data.chunks(frame_len) {
            fragments.push(rle_frame(frame, image.samples as usize));
        }
        Element {
            tag: Tag(0x7FE0, 0x0010),
            vr: VR::OB,
            value: dicom_deid::dataset::Value::Fragments(fragments),
        }
    } else {
        Element::bytes(Tag(0x7FE0, 0x0010), VR::OW, data)
    };
    write_file(path, ds, ts, enc, Some(pixel))
}

fn write_file(
    path: &Path,
    ds: &Dataset,
    ts: &str,
    enc: Encoding,
    pixel: Option<Element>,
) -> io::Result<u64> {
    let mut meta = Dataset::new();
    meta.put(Element::bytes(Tag(0x0002, 0x0001), VR::OB, vec![0, 1]));
    if let Some(class) = ds.get_str(Tag(0x0008, 0x0016)) {
        meta.put(Element::text(Tag(0x0002, 0x0002), VR::UI, class));
    }
    if let Some(sop) = ds.get_str(Tag(0x0008, 0x0018)) {
        meta.put(Element::text(Tag(0x0002, 0x0003), VR::UI, sop));
    }
    meta.put(Element::text(Tag(0x0002, 0x0010), VR::UI, ts));
    meta.put(Element::text(Tag(0x0002, 0x0016), VR::AE, "PACS_EXPORT"));
    let mut ds = ds.clone();
    if let Some(p) = pixel {
        ds.put(p);
    }
    let file = io::BufWriter::new(std::fs::File::create(path)?);
    let mut out = file;
    write_file_start(&mut out, &meta)?;
    let mut body = BodyWriter::new(out, enc);
    write_dataset(
        &mut body,
        &ds,
        Encoding {
            deflated: false,
            ..enc
        },
    )?;
    body.finish()?.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

fn first_dicom(dir: &Path) -> io::Result<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "dcm")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("IM"))
            {
                return Ok(p);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "no DICOM file generated",
    ))
}
