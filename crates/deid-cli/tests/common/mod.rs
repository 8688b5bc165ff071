//! Helpers shared by the end-to-end tests of the `deid` binary.
#![allow(dead_code)]

use dicom_core::{Tag, VR};
use dicom_deid::dataset::{Dataset, Element};
use dicom_deid::io::{Encoding, write_dataset, write_file_start};
use std::path::PathBuf;
use std::process::Command;

/// The `deid` binary under test.
pub fn deid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_deid"))
}

/// `../shared` beside the workspace, or `$DEID_SHARED_DIR`; missing fails the test (CI
/// always has it).
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

/// CT Image Storage.
pub const CT_IMAGE: &str = "1.2.840.10008.5.1.4.1.1.2";

/// A small explicit VR little endian image file: SOP class and instance, the given text
/// attributes, and an 8×8 8-bit image whose 64 pixels are `fill`. The file meta follows
/// from the SOP class and instance.
pub fn image_file(
    sop_class: &str,
    sop: &str,
    attributes: &[(u16, u16, VR, &str)],
    fill: u8,
) -> Vec<u8> {
    let mut meta = Dataset::new();
    meta.put(Element::bytes(Tag(0x0002, 0x0001), VR::OB, vec![0u8, 1]));
    meta.put(Element::text(Tag(0x0002, 0x0002), VR::UI, sop_class));
    meta.put(Element::text(Tag(0x0002, 0x0003), VR::UI, sop));
    meta.put(Element::text(
        Tag(0x0002, 0x0010),
        VR::UI,
        "1.2.840.10008.1.2.1",
    ));
    meta.put(Element::text(Tag(0x0002, 0x0012), VR::UI, "1.2.3.4"));
    let mut ds = Dataset::new();
    ds.put(Element::text(Tag(0x0008, 0x0016), VR::UI, sop_class));
    ds.put(Element::text(Tag(0x0008, 0x0018), VR::UI, sop));
    for &(group, element, vr, value) in attributes {
        ds.put(Element::text(Tag(group, element), vr, value));
    }
    for element in [0x0010, 0x0011, 0x0100] {
        ds.put(Element::bytes(
            Tag(0x0028, element),
            VR::US,
            8u16.to_le_bytes(),
        ));
    }
    ds.put(Element::bytes(Tag(0x7FE0, 0x0010), VR::OB, vec![fill; 64]));
    let mut out = Vec::new();
    write_file_start(&mut out, &meta).unwrap();
    write_dataset(&mut out, &ds, Encoding::EXPLICIT_LE).unwrap();
    out
}
