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

use common::{parse, searchable_bytes, shared_dir};
use dicom_core::{Tag, VR};
use dicom_deid::dataset::Value;
use dicom_deid::keys::Key;
use dicom_deid::profile::{Action, Profile};
use dicom_deid::{DeidOption, Deidentifier};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::Command;

/// dciodvfy's error lines for a file. dciodvfy cannot read deflated files, so those are
/// first inflated to explicit VR little endian with dcmtk's dcmconv (a second reader).
fn dciodvfy_errors(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let deflated = bytes
        .windows(22)
        .take(2048)
        .any(|w| w == b"1.2.840.10008.1.2.1.99");
    let tmp = tempfile::NamedTempFile::new().unwrap();
    let target = if deflated {
        let status = Command::new("dcmconv")
            .args(["+te"])
            .arg(path)
            .arg(tmp.path())
            .output()
            .expect("dcmconv (dcmtk) must be installed: .ci/run installs it");
        assert!(
            status.status.success(),
            "dcmconv cannot inflate {}",
            path.display()
        );
        tmp.path()
    } else {
        path
    };
    let out = Command::new("dciodvfy")
        .arg(target)
        .output()
        .expect("dciodvfy (dicom3tools) must be installed: .ci/run installs it");
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| l.starts_with("Error"))
        .map(str::to_string)
        .collect()
}

/// New dciodvfy errors that the standard itself causes, accepted by name.
const ACCEPTED_NEW_ERRORS: [(&str, &str, &str); 2] = [
    // PS3.15 E.1-1 says X for Responsible Person/Organization, which the Patient module
    // requires (Type 2C) for animals: the Basic Profile itself removes them.
    (
        "fo-dicom/mr_brucker.dcm",
        "Element=<ResponsibleOrganization>",
        "X in Table E.1-1",
    ),
    (
        "fo-dicom/mr_brucker.dcm",
        "Element=<ResponsiblePerson>",
        "X in Table E.1-1",
    ),
];

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
    check_corpus(&[]);
}

/// The same with every option that removes less (but the full dates, which exclude the
/// modified ones, and retain-uids, which would defeat the UID check): safe private
/// attributes may now stay, and only they.
#[test]
fn every_corpus_file_with_the_retain_and_clean_options() {
    check_corpus(&[
        DeidOption::RetainSafePrivate,
        DeidOption::RetainDeviceIdentity,
        DeidOption::RetainInstitutionIdentity,
        DeidOption::RetainPatientCharacteristics,
        DeidOption::RetainLongModifiedDates,
        DeidOption::CleanDescriptors,
        DeidOption::CleanStructuredContent,
        DeidOption::CleanGraphics,
    ]);
}

fn check_corpus(options: &[DeidOption]) {
    let root = shared_dir().join("corpus/real");
    let profile = Profile::basic()
        .with_options(options.iter().copied())
        .unwrap();
    let mut builder =
        Deidentifier::builder().key(Key::from_bytes(b"corpus-test-key-0123456789abcdef").unwrap());
    for o in options {
        builder = builder.option(*o);
    }
    let deid = builder.build().unwrap();
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
        // The file path (kernel copy of the pixel data) and the stream path agree byte for byte.
        let mut streamed = Vec::new();
        deid.deidentify_stream(&in_bytes[..], Some(in_bytes.len() as u64), &mut streamed)
            .unwrap();
        if streamed != out_bytes {
            failures.push(format!(
                "{rel}: deidentify_file and deidentify_stream differ"
            ));
        }

        // No private element survives, but safe ones under Retain Safe Private.
        walk_private(&out_ds, &mut |tag, creator| {
            let is_creator = (0x0010..=0x00FF).contains(&tag.element());
            if !is_creator && profile.private_action(tag, VR::UN, creator) != Action::Keep {
                failures.push(format!(
                    "{rel}: private element ({:04X},{:04X}) in the output",
                    tag.group(),
                    tag.element()
                ));
            }
        });

        // No original UID, no replaced identifier value.
        let mut uids = HashSet::new();
        let mut replaced = HashSet::new();
        let mut kept = HashSet::new();
        for ds in [&in_meta, &in_ds] {
            walk_with_creator(ds, &mut |e, creator| {
                let Some(text) = e.as_str() else { return };
                let values = text.split('\\').map(|v| v.trim().to_uppercase());
                if e.vr == VR::UI {
                    uids.extend(values.filter(|u| u.len() > 8 && !u.starts_with("1.2.840.10008.")));
                    return;
                }
                if e.tag.group() % 2 == 1 && (0x0010..=0x00FF).contains(&e.tag.element()) {
                    return; // a private creator: a vendor name, not an identifier
                }
                let action = if e.tag.group() % 2 == 1 {
                    profile.private_action(e.tag, e.vr, creator)
                } else {
                    profile.action(e.tag, e.vr)
                };
                let replaces = matches!(
                    action,
                    Action::Remove
                        | Action::Empty
                        | Action::Dummy
                        | Action::Uid
                        | Action::Pseudonym
                        | Action::Replace(_)
                );
                if matches!(e.vr, VR::PN | VR::LO | VR::SH) && replaces {
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
            // Our own dummy and marker words, and numbers (which binary data may contain).
            if ["ANONYMIZED", "REMOVED", "MODIFIED"].contains(&value.as_str())
                || value.chars().all(|c| c.is_ascii_digit())
            {
                continue;
            }
            // As a whole word: "UUUU" inside "UUUUUUU" is not that value.
            if dicom_deid::actions::find_word(&searchable, value.as_bytes()).is_some() {
                failures.push(format!(
                    "{rel}: an original identifier value survives{}",
                    debug_value(value)
                ));
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
        let codes: Vec<&str> = match out_ds.get(Tag(0x0012, 0x0064)).map(|e| &e.value) {
            Some(Value::Items(items)) => items
                .iter()
                .filter_map(|i| i.get_str(Tag(0x0008, 0x0100)))
                .collect(),
            _ => Vec::new(),
        };
        for (code, _) in deid.codes() {
            if !codes.contains(&code.as_str()) {
                failures.push(format!("{rel}: code {code} missing from (0012,0064)"));
            }
        }
        if let Some(sop) = out_ds
            .get_str(Tag(0x0008, 0x0018))
            .filter(|s| !s.is_empty())
        {
            if out_meta.get_str(Tag(0x0002, 0x0003)) != Some(sop)
                || outcome.sop_instance_uid.as_deref() != Some(sop)
            {
                failures.push(format!(
                    "{rel}: Media Storage SOP Instance UID is not the new SOP Instance UID"
                ));
            }
        }

        // Still a valid object, at least as valid as before.
        let (ei, eo) = (dciodvfy_errors(input), dciodvfy_errors(&output));
        errs_in += ei.len();
        errs_out += eo.len();
        let accepted = eo
            .iter()
            .filter(|e| {
                ACCEPTED_NEW_ERRORS
                    .iter()
                    .any(|(f, what, _)| *f == rel && e.contains(what))
            })
            .count();
        if eo.len() - accepted > ei.len() {
            failures.push(format!(
                "{rel}: dciodvfy errors rose from {} to {}: {eo:?}",
                ei.len(),
                eo.len()
            ));
        }
    }
    println!(
        "corpus {options:?}: {} files, {done} de-identified, {} rejected {rejected:?}; dciodvfy errors: input {errs_in}, output {errs_out}",
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
    if std::env::var_os("DEID_TEST_SHOW_VALUES").is_some() {
        format!(": {v:?}")
    } else {
        String::new()
    }
}

/// Calls `f` with every element and, for private ones, its creator, at every depth.
fn walk_with_creator<'a>(
    ds: &'a dicom_deid::dataset::Dataset,
    f: &mut dyn FnMut(&'a dicom_deid::dataset::Element, Option<&'a str>),
) {
    for e in ds.elements() {
        let creator = (e.tag.group() % 2 == 1)
            .then(|| ds.get_str(Tag(e.tag.group(), e.tag.element() >> 8)))
            .flatten();
        f(e, creator);
        if let Value::Items(items) = &e.value {
            for item in items {
                walk_with_creator(item, f);
            }
        }
    }
}

/// Calls `f` with every private tag and its creator, at every depth.
fn walk_private(ds: &dicom_deid::dataset::Dataset, f: &mut dyn FnMut(Tag, Option<&str>)) {
    walk_with_creator(ds, &mut |e, creator| {
        if e.tag.group() % 2 == 1 {
            f(e.tag, creator);
        }
    });
}

/// Every corpus file, damaged a few ways (random bytes overwritten, some also cut short),
/// through the de-identifier with Clean Pixel Data and a catch-all rule, so that every
/// decoder is reached: each run ends in an output or a typed error, never a panic.
#[test]
fn damaged_corpus_files_give_typed_errors_not_panics() {
    let rules = dicom_deid::pixels::PixelRules::from_toml(
        "[[rule]]\nname = \"all\"\n[[rule.rect]]\nx = 0\ny = 0\nwidth = \"100%\"\nheight = \"10%\"\n",
    )
    .unwrap();
    let deid = Deidentifier::builder()
        .key(Key::from_bytes(b"damage-test-key-0123456789").unwrap())
        .option(DeidOption::CleanPixelData)
        .option(DeidOption::RetainSafePrivate)
        .pixel_rules(rules)
        .build()
        .unwrap();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut outputs, mut errors) = (0, 0);
    let files = walkdir::WalkDir::new(shared_dir().join("corpus/real"))
        .into_iter()
        .filter_map(Result::ok);
    for entry in files.filter(|e| e.file_type().is_file()) {
        let original = std::fs::read(entry.path()).unwrap();
        for round in 0..6 {
            let mut bytes = original.clone();
            for _ in 0..1 + next() % 8 {
                if let Some(len) = std::num::NonZeroUsize::new(bytes.len()) {
                    bytes[next() as usize % len.get()] = next() as u8;
                }
            }
            if round % 2 == 0 {
                bytes.truncate(next() as usize % (bytes.len() + 1));
            }
            let mut out = Vec::new();
            match deid.deidentify_stream(&bytes[..], Some(bytes.len() as u64), &mut out) {
                Ok(_) => outputs += 1,
                Err(_) => errors += 1,
            }
        }
    }
    println!("damaged corpus: {outputs} outputs, {errors} typed errors, no panic");
    assert!(outputs > 0 && errors > 0);
}

/// The dicom-rs adapter: an object read by dicom-rs comes back de-identified, as a dicom-rs
/// object, and the input object is left as it was.
#[test]
fn a_dicom_rs_object_is_deidentified() {
    use dicom_dictionary_std::tags;
    let path = shared_dir().join("corpus/real/pydicom/CT_small.dcm");
    let object = dicom_object::open_file(&path).unwrap();
    let original_name = object
        .element(tags::PATIENT_NAME)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let deid = Deidentifier::builder()
        .key(Key::from_bytes(b"object-test-key-0123456789").unwrap())
        .build()
        .unwrap();
    let (out, outcome) = deid.deidentify_object(&object).unwrap();
    assert!(!original_name.is_empty());
    assert_eq!(
        object
            .element(tags::PATIENT_NAME)
            .unwrap()
            .to_str()
            .unwrap(),
        original_name
    );
    assert_eq!(
        out.element(tags::PATIENT_NAME)
            .unwrap()
            .to_str()
            .unwrap()
            .trim(),
        ""
    );
    let sop = out
        .element(tags::SOP_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches('\0')
        .to_string();
    assert!(sop.starts_with("2.25."));
    assert_eq!(
        out.meta()
            .media_storage_sop_instance_uid()
            .trim_end_matches('\0'),
        sop
    );
    assert_eq!(outcome.sop_instance_uid.as_deref(), Some(sop.as_str()));
    assert_eq!(
        out.element(tags::PATIENT_IDENTITY_REMOVED)
            .unwrap()
            .to_str()
            .unwrap()
            .trim(),
        "YES"
    );
}
