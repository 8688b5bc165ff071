//! Every file of `../shared/corpus/real` through the basic profile (read-only input).
//!
//! For each file: either a typed rejection (only for files the corpus manifest lists as
//! malformed, truncated or a DICOMDIR), or an output that
//! - parses with our reader and with dicom-rs (a reader we did not write),
//! - has no private element,
//! - contains no original UID anywhere in its bytes (file meta included),
//! - contains no original PN/LO/SH value that the profile replaces,
//! - carries the three de-identification markers,
//! - has no more dciodvfy errors than its input.

mod common;

use common::{parse, searchable_bytes, shared_dir, walk};
use dicom_core::{Tag, VR};
use dicom_deid::Deidentifier;
use dicom_deid::dataset::Value;
use dicom_deid::keys::Key;
use dicom_deid::profile::{Action, Profile};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;

fn dciodvfy_errors(path: &Path) -> usize {
    let out = Command::new("dciodvfy")
        .arg(path)
        .output()
        .expect("dciodvfy (dicom3tools) must be installed: .ci/run installs it");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    text.lines().filter(|l| l.starts_with("Error")).count()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Files the manifest marks as broken or special: the only ones we may reject.
fn may_reject() -> HashSet<String> {
    let manifest =
        std::fs::read_to_string(shared_dir().join("corpus/MANIFEST.tsv")).expect("MANIFEST.tsv");
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let notes = cols.get(13)?.to_lowercase();
            let bad = ["malformed", "truncated", "dicomdir", "unreadable"]
                .iter()
                .any(|w| notes.contains(w));
            bad.then(|| cols[0].to_string())
        })
        .collect()
}

#[test]
fn every_corpus_file_is_deidentified_or_rejected() {
    let root = shared_dir().join("corpus/real");
    let profile = Profile::basic();
    let deid = Deidentifier::builder()
        .key(Key::from_bytes(b"corpus-test-key-0123456789abcdef").unwrap())
        .build()
        .unwrap();
    let allowed = may_reject();
    let out_dir = tempfile::tempdir().unwrap();
    let mut done = 0;
    let mut rejected: BTreeMap<String, usize> = BTreeMap::new();
    let (mut errs_in, mut errs_out) = (0, 0);
    let mut failures = Vec::new();

    let mut files: Vec<_> = walkdir::WalkDir::new(&root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    assert!(files.len() >= 120, "corpus has {} files", files.len());

    for (i, input) in files.iter().enumerate() {
        let rel = input
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let output = out_dir.path().join(format!("{i}.dcm"));
        let outcome = match deid.deidentify_file(input, &output) {
            Ok(o) => o,
            Err(e) => {
                *rejected.entry(e.kind().to_string()).or_default() += 1;
                if !allowed.contains(&rel) {
                    failures.push(format!(
                        "{rel}: rejected but not marked broken in the manifest: {e}"
                    ));
                }
                assert!(!output.exists(), "{rel}: a rejected file left an output");
                continue;
            }
        };
        done += 1;
        let in_bytes = std::fs::read(input).unwrap();
        let out_bytes = std::fs::read(&output).unwrap();
        let (in_meta, in_ds) = parse(&in_bytes).expect("input was readable once");
        let (out_meta, out_ds) = match parse(&out_bytes) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{rel}: output does not parse: {e}"));
                continue;
            }
        };
        if let Err(e) = dicom_object::OpenFileOptions::new().open_file(&output) {
            failures.push(format!("{rel}: dicom-rs cannot open the output: {e}"));
        }
        let searchable = searchable_bytes(&out_bytes);

        // No private element survives the basic profile.
        walk(&out_ds, &mut |e, _| {
            if e.tag.group() % 2 == 1 {
                failures.push(format!(
                    "{rel}: private element ({:04X},{:04X}) in the output",
                    e.tag.group(),
                    e.tag.element()
                ));
            }
        });

        // No original UID, no replaced identifier value.
        let mut uids = HashSet::new();
        let mut replaced = HashSet::new();
        let mut kept = HashSet::new();
        for ds in [&in_meta, &in_ds] {
            walk(ds, &mut |e, _| {
                let Some(text) = e.as_str() else { return };
                let values = text.split('\\').map(|v| v.trim().to_string());
                if e.vr == VR::UI {
                    uids.extend(values.filter(|u| u.len() > 8 && !u.starts_with("1.2.840.10008.")));
                    return;
                }
                let action = if e.tag.group() % 2 == 1 {
                    Action::Remove
                } else {
                    profile.action(e.tag, e.vr)
                };
                if matches!(e.vr, VR::PN | VR::LO | VR::SH) && action != Action::Keep {
                    replaced.extend(values.filter(|v| v.len() >= 4));
                } else if action == Action::Keep {
                    kept.extend(values);
                }
            });
        }
        for uid in &uids {
            if contains(&searchable, uid.as_bytes()) {
                failures.push(format!("{rel}: an original UID survives"));
            }
        }
        for value in replaced.difference(&kept) {
            if value == "ANONYMIZED" || value.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            if contains(&searchable, value.as_bytes()) {
                failures.push(format!("{rel}: an original identifier value survives{}", debug_value(value)));
            }
        }
        assert!(
            out_meta.get(Tag(0x0002, 0x0016)).is_none(),
            "{rel}: source AE title kept"
        );

        // Markers.
        if out_ds.get_str(Tag(0x0012, 0x0062)) != Some("YES")
            || out_ds.get(Tag(0x0012, 0x0063)).is_none()
        {
            failures.push(format!(
                "{rel}: missing Patient Identity Removed / De-identification Method"
            ));
        }
        let has_code = match out_ds.get(Tag(0x0012, 0x0064)).map(|e| &e.value) {
            Some(Value::Items(items)) => items
                .iter()
                .any(|i| i.get_str(Tag(0x0008, 0x0100)) == Some("113100")),
            _ => false,
        };
        if !has_code {
            failures.push(format!("{rel}: no 113100 code"));
        }
        assert_eq!(
            out_meta.get_str(Tag(0x0002, 0x0003)),
            outcome
                .sop_instance_uid
                .as_deref()
                .or(out_meta.get_str(Tag(0x0002, 0x0003))),
            "{rel}: meta SOP instance differs from the data set's"
        );

        // Still a valid object, at least as valid as before.
        let (ei, eo) = (dciodvfy_errors(input), dciodvfy_errors(&output));
        errs_in += ei;
        errs_out += eo;
        if eo > ei {
            failures.push(format!("{rel}: dciodvfy errors rose from {ei} to {eo}"));
        }
    }
    println!(
        "corpus: {} files, {done} de-identified, {} rejected {rejected:?}; dciodvfy errors: input {errs_in}, output {errs_out}",
        files.len(),
        rejected.values().sum::<usize>()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// With DEID_TEST_SHOW_VALUES=1 (local debugging of public test data only), show the value.
fn debug_value(v: &str) -> String {
    if std::env::var_os("DEID_TEST_SHOW_VALUES").is_some() { format!(": {v:?}") } else { String::new() }
}
