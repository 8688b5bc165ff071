//! Pixel redaction benchmark (`cargo bench -p dicom-deid --bench pixels`).
//!
//! 1. Native throughput: a generated 512×512×16-bit MONOCHROME2 file of 200 frames (100 MiB
//!    of pixel data) de-identified from memory to memory with a rule blanking the top 10% and
//!    a corner box on every frame; MB/s of pixel data, on one thread and on two threads (two
//!    files at once, as the batch CLI runs). For comparison: the same file without the Clean
//!    Pixel Data option (pixels streamed), and the in-place redaction alone.
//! 2. Re-encode paths: frames/s for the Burned In Annotation / ultrasound files of the
//!    corpus in each encapsulated transfer syntax (decode, redact, RLE encode, write).
//!
//! Figures are printed; `crates/dicom-deid/benches/PIXELS.md` records a run.

use dicom_core::{Tag, VR};
use dicom_deid::dataset::{Dataset, Element, Value};
use dicom_deid::io::{self, Encoding};
use dicom_deid::pixels::{ImageInfo, PixelRect, PixelRules, codec, redact};
use dicom_deid::{DeidOption, Deidentifier, Key};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const RULES: &str = r#"
[[rule]]
name = "band-and-box"
[[rule.rect]]
x = 0
y = 0
width = "100%"
height = "10%"
[[rule.rect]]
x = -120
y = -40
width = 120
height = 40
"#;

fn native_file(rows: u16, cols: u16, frames: usize) -> Vec<u8> {
    let le = |v: u16| v.to_le_bytes().to_vec();
    let mut ds = Dataset::new();
    ds.put(Element::text(
        Tag(0x0008, 0x0016),
        VR::UI,
        "1.2.840.10008.5.1.4.1.1.7",
    ));
    ds.put(Element::text(Tag(0x0008, 0x0018), VR::UI, "1.2.3.4"));
    ds.put(Element::text(Tag(0x0008, 0x0060), VR::CS, "OT"));
    ds.put(Element::bytes(Tag(0x0028, 0x0002), VR::US, le(1)));
    ds.put(Element::text(Tag(0x0028, 0x0004), VR::CS, "MONOCHROME2"));
    ds.put(Element::text(
        Tag(0x0028, 0x0008),
        VR::IS,
        &frames.to_string(),
    ));
    ds.put(Element::bytes(Tag(0x0028, 0x0010), VR::US, le(rows)));
    ds.put(Element::bytes(Tag(0x0028, 0x0011), VR::US, le(cols)));
    ds.put(Element::bytes(Tag(0x0028, 0x0100), VR::US, le(16)));
    ds.put(Element::bytes(Tag(0x0028, 0x0101), VR::US, le(12)));
    ds.put(Element::bytes(Tag(0x0028, 0x0102), VR::US, le(11)));
    ds.put(Element::bytes(Tag(0x0028, 0x0103), VR::US, le(0)));
    ds.put(Element::text(Tag(0x0028, 0x0301), VR::CS, "YES"));
    let n = usize::from(rows) * usize::from(cols) * frames;
    let pixels: Vec<u8> = (0..n)
        .flat_map(|i| ((i % 4096) as u16).to_le_bytes())
        .collect();
    let mut meta = Dataset::new();
    meta.put(Element::text(
        Tag(0x0002, 0x0010),
        VR::UI,
        "1.2.840.10008.1.2.1",
    ));
    let mut out = Vec::new();
    io::write_file_start(&mut out, &meta).unwrap();
    io::write_dataset(&mut out, &ds, Encoding::EXPLICIT_LE).unwrap();
    io::write_element(
        &mut out,
        &Element {
            tag: Tag(0x7FE0, 0x0010),
            vr: VR::OW,
            value: Value::Bytes(pixels),
        },
        Encoding::EXPLICIT_LE,
    )
    .unwrap();
    out
}

fn deid(clean: bool) -> Deidentifier {
    let mut b = Deidentifier::builder()
        .key(Key::from_bytes(b"bench-key-0123456789abcdef-0123456").unwrap())
        .pixel_rules(
            PixelRules::from_toml(RULES)
                .unwrap()
                .extend(PixelRules::default_rules()),
        );
    if clean {
        b = b.option(DeidOption::CleanPixelData);
    }
    b.build().unwrap()
}

/// Runs `f` at least `min_runs` times and for at least `min_time`; the best run's duration.
fn best(min_runs: usize, min_time: Duration, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    let mut best = Duration::MAX;
    let mut runs = 0;
    while runs < min_runs || start.elapsed() < min_time {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed());
        runs += 1;
    }
    best
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this too: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let frames = if quick { 4 } else { 200 };
    let (rows, cols) = (512u16, 512u16);
    let file = native_file(rows, cols, frames);
    let pixel_bytes = usize::from(rows) * usize::from(cols) * 2 * frames;
    let time = Duration::from_secs(if quick { 0 } else { 3 });

    println!(
        "native MONOCHROME2 16-bit {rows}x{cols}, {frames} frames ({pixel_bytes} bytes of pixel data)"
    );
    let cleaner = deid(true);
    let run = |d: &Deidentifier| {
        let mut out = Vec::with_capacity(file.len() + 4096);
        let outcome = d
            .deidentify_stream(&file[..], Some(file.len() as u64), &mut out)
            .unwrap();
        std::hint::black_box(outcome);
    };
    let t = best(3, time, || run(&cleaner));
    println!(
        "  de-identify + redact, 1 thread : {:8.0} MB/s",
        mbps(pixel_bytes, t)
    );
    let t2 = best(3, time, || {
        std::thread::scope(|s| {
            s.spawn(|| run(&cleaner));
            s.spawn(|| run(&cleaner));
        })
    });
    println!(
        "  de-identify + redact, 2 threads: {:8.0} MB/s (two files at once)",
        mbps(2 * pixel_bytes, t2)
    );
    let plain = deid(false);
    let t = best(3, time, || run(&plain));
    println!(
        "  de-identify, pixels streamed   : {:8.0} MB/s",
        mbps(pixel_bytes, t)
    );

    // In-place redaction alone.
    let info = ImageInfo {
        rows: u32::from(rows),
        cols: u32::from(cols),
        samples: 1,
        bits_allocated: 16,
        bits_stored: 12,
        signed: false,
        photometric: "MONOCHROME2".into(),
        planar: false,
        frames: frames as u32,
    };
    let layout = redact::Layout::of(&info, false);
    let rects = [
        PixelRect {
            x0: 0,
            y0: 0,
            x1: 512,
            y1: 51,
        },
        PixelRect {
            x0: 392,
            y0: 472,
            x1: 512,
            y1: 512,
        },
    ];
    let mut buf = vec![1u8; pixel_bytes];
    let fill = redact::FillSpec::Solid(vec![0]);
    let t = best(3, time, || {
        for frame in buf.chunks_exact_mut(info.frame_len()) {
            redact::redact_frame(frame, &layout, &rects, &fill);
        }
        std::hint::black_box(&buf);
    });
    println!(
        "  in-place redaction only        : {:8.0} MB/s",
        mbps(pixel_bytes, t)
    );
    let pix = redact::FillSpec::Pixelate(8);
    let t = best(3, time, || {
        for frame in buf.chunks_exact_mut(info.frame_len()) {
            redact::redact_frame(frame, &layout, &rects, &pix);
        }
        std::hint::black_box(&buf);
    });
    println!(
        "  in-place pixelate (8) only     : {:8.0} MB/s",
        mbps(pixel_bytes, t)
    );
    let frame_info = ImageInfo {
        frames: 1,
        ..info.clone()
    };
    let grad: Vec<u8> = (0..info.frame_len() / 2)
        .flat_map(|i| ((i % 4096) as u16).to_le_bytes())
        .collect();
    let n = frames.min(20);
    let t = best(3, time, || {
        for _ in 0..n {
            std::hint::black_box(codec::rle_encode_frame(&grad, &frame_info).unwrap());
        }
    });
    println!(
        "  RLE encoding only (gradient)   : {:8.0} MB/s",
        mbps(grad.len() * n, t)
    );

    // Re-encode paths on corpus files.
    let shared = std::env::var_os("DEID_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let root = shared.join("corpus/real");
    if !root.is_dir() {
        println!(
            "(corpus not found at {}: re-encode paths skipped)",
            root.display()
        );
        return;
    }
    println!("re-encode paths (decode, redact, RLE encode, write), frames/s on 1 thread:");
    let all = deid(true);
    for (label, path) in [
        (
            "RLE 8-bit palette, 2 frames 600x800 -> RLE",
            "pydicom-data/OBXXXX1A_rle_2frame.dcm",
        ),
        (
            "JPEG baseline YBR_FULL_422 30 frames 240x320 -> RLE",
            "pydicom/examples_ybr_color.dcm",
        ),
        (
            "JPEG lossless SV1 8-bit 768x1024 -> RLE",
            "pydicom-data/JPGLosslessP14SV1_1s_1f_8b.dcm",
        ),
        (
            "JPEG lossless SV1 RGB 2 frames 768x1024 -> RLE",
            "pylibjpeg-data/JPEGLosslessSV1/JPEGLosslessP14SV1_3s_2f_u_08_08.dcm",
        ),
        (
            "JPEG-LS lossless 8-bit 768x1024 -> RLE",
            "fo-dicom/GH364.dcm",
        ),
        (
            "JPEG 2000 16-bit 1024x256 -> RLE",
            "dicognito/test_burned_in_annotation_default/burned_in_yes.dcm",
        ),
        (
            "JPEG 2000 YBR_ICT 480x640 -> RLE",
            "pydicom-data/US1_J2KI.dcm",
        ),
    ] {
        let Ok(bytes) = std::fs::read(root.join(path)) else {
            println!("  {label}: missing");
            continue;
        };
        let mut frames = 0;
        let t = best(2, Duration::from_secs(if quick { 0 } else { 2 }), || {
            let mut out = Vec::new();
            match all.deidentify_stream(&bytes[..], Some(bytes.len() as u64), &mut out) {
                Ok(o) => frames = o.pixels.map_or(0, |p| p.frames),
                Err(e) => println!("  {label}: {e}"),
            }
        });
        println!(
            "  {label:55}: {:8.1} frames/s",
            f64::from(frames) / t.as_secs_f64()
        );
    }
}
