//! The generated export tree is what the benchmark claims: every DICOM file is accepted by
//! the de-identifier and readable by dcmtk, and the other files are rejected.

use deid_benches::tree::generate;
use dicom_deid::{Deidentifier, Key};

#[test]
fn generated_tree_is_valid_and_deidentifies() {
    let dir = tempfile::tempdir().unwrap();
    let stats = generate(dir.path(), 1).unwrap();
    assert_eq!(stats.other_files, 4);
    let deid = Deidentifier::builder()
        .key(Key::from_bytes(b"tree-test-key-0123456789").unwrap())
        .build()
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let (mut ok, mut rejected) = (0, 0);
    for (i, entry) in walkdir::WalkDir::new(dir.path())
        .into_iter()
        .filter_map(Result::ok)
        .enumerate()
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let target = out.path().join(format!("{i}.dcm"));
        match deid.deidentify_file(entry.path(), &target) {
            Ok(_) => {
                ok += 1;
                let status = std::process::Command::new("dcmdump")
                    .arg("-q")
                    .arg(&target)
                    .output()
                    .expect("dcmdump (dcmtk) is installed by .ci/run");
                assert!(
                    status.status.success(),
                    "dcmtk cannot read the output of {}",
                    entry.path().display()
                );
            }
            Err(_) => rejected += 1,
        }
    }
    assert_eq!(ok, stats.dicom_files);
    assert_eq!(rejected, stats.other_files);
}
