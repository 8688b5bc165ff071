//! End-to-end tests of `deid run` and `deid profile show`, running the real binary.

mod common;

use common::{CT_IMAGE, deid, image_file, shared_dir};
use dicom_core::VR;
use dicom_deid::Key;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KEY: &str = "test-key-0123456789abcdef-0123456789";
const PHI: [&str; 4] = ["DOE", "JANE", "SMITH", "MRN"];

/// A small explicit VR little endian DICOM file with fake PHI and 64 bytes of pixels.
fn dicom(
    name: &str,
    patient_id: &str,
    study: &str,
    series: &str,
    sop: &str,
    number: u32,
) -> Vec<u8> {
    dicom_with_class(name, patient_id, study, series, sop, number, CT_IMAGE)
}

fn dicom_with_class(
    name: &str,
    patient_id: &str,
    study: &str,
    series: &str,
    sop: &str,
    number: u32,
    sop_class: &str,
) -> Vec<u8> {
    let number_text = number.to_string();
    let attributes = [
        (0x0008, 0x0020, VR::DA, "20240131"),
        (0x0008, 0x0060, VR::CS, "CT"),
        (0x0008, 0x0080, VR::LO, "SMITH GENERAL HOSPITAL"),
        (0x0010, 0x0010, VR::PN, name),
        (0x0010, 0x0020, VR::LO, patient_id),
        (0x0010, 0x0030, VR::DA, "19700101"),
        (0x0020, 0x000D, VR::UI, study),
        (0x0020, 0x000E, VR::UI, series),
        (0x0020, 0x0013, VR::IS, number_text.as_str()),
    ];
    image_file(sop_class, sop, &attributes, number as u8)
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// A tree of `n` DICOM files over two patients, PHI in folder and file names.
fn clean_tree(root: &Path, n: u32) {
    for i in 0..n {
        let (name, id) = if i % 2 == 0 {
            ("DOE^JANE", "MRN0001")
        } else {
            ("SMITH^JOHN", "MRN0002")
        };
        let study = format!("1.2.826.0.1.3680043.99.{}", i % 2);
        let series = format!("{study}.{}", i % 3);
        let sop = format!("{series}.{i}");
        let folder = name.replace('^', "_");
        write(
            &root.join(format!("{folder}/CT {id}/{folder}_{i:04}.dcm")),
            &dicom(name, id, &study, &series, &sop, i),
        );
    }
}

/// `clean_tree` plus non-DICOM, broken, DICOMDIR and duplicate inputs.
fn messy_tree(root: &Path) {
    clean_tree(root, 6);
    write(
        &root.join("DOE_JANE/README.txt"),
        b"Scans of Jane Doe, MRN0001\n",
    );
    write(&root.join("DOE_JANE/empty_DOE.dcm"), b"");
    let good = dicom(
        "DOE^JANE",
        "MRN0001",
        "1.2.3.9",
        "1.2.3.9.1",
        "1.2.3.9.1.1",
        1,
    );
    write(
        &root.join("DOE_JANE/truncated_DOE.dcm"),
        &good[..good.len() - 40],
    );
    write(
        &root.join("DOE_JANE/DICOMDIR"),
        &dicom_with_class(
            "DOE^JANE",
            "MRN0001",
            "1.2.3",
            "1.2.3.1",
            "1.2.3.1.1",
            1,
            "1.2.840.10008.1.3.10",
        ),
    );
    // Same SOP Instance UID as DOE_JANE_0000.dcm, different content.
    write(
        &root.join("DOE_JANE/zz_copy/DOE_JANE_dup.dcm"),
        &dicom(
            "DOE^JANE",
            "MRN0001",
            "1.2.826.0.1.3680043.99.0",
            "1.2.826.0.1.3680043.99.0.0",
            "1.2.826.0.1.3680043.99.0.0.0",
            77,
        ),
    );
}

fn key_file(dir: &Path) -> PathBuf {
    let p = dir.join("deid.key");
    fs::write(&p, format!("{KEY}\n")).unwrap();
    p
}

/// `--key-file KEY --report REPORT`.
fn keyed<'a>(key: &'a Path, report: &'a Path) -> [&'a str; 4] {
    [
        "--key-file",
        key.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]
}

fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn run(args: &[&Path], extra: &[&str]) -> Output {
    let mut cmd = deid();
    cmd.arg("run").arg("-q");
    cmd.args(extra);
    cmd.args(args);
    cmd.output().unwrap()
}

/// Relative path -> bytes of every output file, state folders excluded.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    if !root.exists() {
        return BTreeMap::new();
    }
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|e| !e.file_name().to_string_lossy().starts_with(".deid-"))
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, fs::read(e.path()).unwrap())
        })
        .collect()
}

fn records(report: &Path) -> Vec<serde_json::Value> {
    fs::read_to_string(report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn assert_no_phi(text: &str, what: &str) {
    for phi in PHI {
        assert!(
            !text.to_uppercase().contains(phi),
            "{phi} found in {what}: {text}"
        );
    }
}

#[test]
fn messy_tree_phi_free_paths_and_report() {
    let t = tempfile::tempdir().unwrap();
    let (input, out, report) = (
        t.path().join("in"),
        t.path().join("out"),
        t.path().join("r.jsonl"),
    );
    messy_tree(&input);
    let key = key_file(t.path());
    let o = run(
        &[&input, &out],
        &[
            "--key-file",
            key.to_str().unwrap(),
            "--jobs",
            "1",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 3);
    let files = tree(&out);
    assert_eq!(files.len(), 6, "{:?}", files.keys());
    for (path, bytes) in &files {
        assert_no_phi(path, "an output path");
        assert!(path.ends_with(".dcm"));
        assert_eq!(&bytes[128..132], b"DICM");
        assert!(!bytes.windows(8).any(|w| w == b"DOE^JANE"));
    }
    let raw = fs::read_to_string(&report).unwrap();
    assert_no_phi(&raw, "the report");
    let k = Key::from_bytes(KEY.as_bytes()).unwrap();
    let recs = records(&report);
    assert_eq!(recs.len(), 11);
    let by_input: BTreeMap<String, &serde_json::Value> = recs
        .iter()
        .map(|r| (r["input"].as_str().unwrap().to_string(), r))
        .collect();
    let status = |rel: &str| {
        by_input[&k.hash("input-path", rel)]["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("DOE_JANE/README.txt"), "non-dicom");
    assert_eq!(status("DOE_JANE/empty_DOE.dcm"), "non-dicom");
    assert_eq!(status("DOE_JANE/truncated_DOE.dcm"), "rejected");
    assert_eq!(status("DOE_JANE/DICOMDIR"), "skipped-dicomdir");
    assert_eq!(status("DOE_JANE/zz_copy/DOE_JANE_dup.dcm"), "duplicate");
    assert_eq!(status("DOE_JANE/CT MRN0001/DOE_JANE_0000.dcm"), "done");
    for r in &recs {
        let s = r["status"].as_str().unwrap();
        assert!(r.get("input_path").is_none());
        if s == "done" {
            assert!(r["output"].as_str().unwrap().ends_with(".dcm"));
        } else {
            assert!(r["reason"].as_str().is_some_and(|x| !x.is_empty()), "{r}");
        }
    }
    // The kept file of the duplicate is the first one (instance number 0, pixels 0).
    let dup_out = by_input[&k.hash("input-path", "DOE_JANE/zz_copy/DOE_JANE_dup.dcm")]["output"]
        .as_str()
        .unwrap();
    assert_eq!(*files[dup_out].last().unwrap(), 0);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_no_phi(&stderr, "stderr");
    assert!(!out.join(".deid-tmp").exists());

    // A second run resumes: everything done is skipped, outputs unchanged.
    let o2 = run(&[&input, &out], &keyed(&key, &report));
    assert_eq!(o2.status.code(), Some(3));
    let recs2 = records(&report);
    assert_eq!(recs2.iter().filter(|r| r["status"] == "skipped").count(), 6);
    assert_eq!(recs2.iter().filter(|r| r["status"] == "done").count(), 0);
    assert_eq!(tree(&out), files);

    // A changed input is de-identified again and replaces its own output (not a duplicate).
    let changed = "DOE_JANE/CT MRN0001/DOE_JANE_0000.dcm";
    let sop = "1.2.826.0.1.3680043.99.0.0.0";
    let (study, series) = ("1.2.826.0.1.3680043.99.0", "1.2.826.0.1.3680043.99.0.0");
    write(
        &input.join(changed),
        &dicom("DOE^JANE", "MRN0001", study, series, sop, 123),
    );
    let o3 = run(&[&input, &out], &keyed(&key, &report));
    assert_eq!(o3.status.code(), Some(3));
    let recs3 = records(&report);
    let rec = recs3
        .iter()
        .find(|r| r["input"] == k.hash("input-path", changed).as_str())
        .unwrap();
    assert_eq!(rec["status"], "done", "{rec}");
    let after = tree(&out);
    assert_eq!(after.len(), 6);
    assert_ne!(
        after[rec["output"].as_str().unwrap()],
        files[rec["output"].as_str().unwrap()]
    );
    assert_eq!(recs3.iter().filter(|r| r["status"] == "skipped").count(), 5);
}

#[test]
fn clean_tree_exits_zero_and_report_input_paths_on_request() {
    let t = tempfile::tempdir().unwrap();
    let (input, out, report) = (
        t.path().join("in"),
        t.path().join("out"),
        t.path().join("r.jsonl"),
    );
    clean_tree(&input, 4);
    write(&input.join("notes.txt"), b"not dicom");
    let key = key_file(t.path());
    let o = run(
        &[&input, &out],
        &[
            "--key-file",
            key.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--report-input-paths",
        ],
    );
    assert_exit(&o, 0);
    let recs = records(&report);
    assert!(recs.iter().all(|r| r["input_path"].is_string()));
    assert_eq!(tree(&out).len(), 4);
}

#[test]
fn dry_run_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let (input, out) = (t.path().join("in"), t.path().join("out"));
    clean_tree(&input, 3);
    let o = run(&[&input, &out], &["--dry-run", "--report", "-"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!out.exists());
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.lines().count(), 3);
    assert!(stdout.contains("\"done\""));
    // Without a key file: a warning.
    assert!(String::from_utf8_lossy(&o.stderr).contains("random key"));
}

#[test]
fn shards_union_equals_single_run() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    clean_tree(&input, 30);
    let key = key_file(t.path());
    let k = ["--key-file", key.to_str().unwrap()];
    let single = t.path().join("single");
    assert_eq!(run(&[&input, &single], &k).status.code(), Some(0));
    let whole = tree(&single);
    assert_eq!(whole.len(), 30);
    let shared = t.path().join("shared-out");
    let mut union = BTreeMap::new();
    for i in 1..=3 {
        let own = t.path().join(format!("shard{i}"));
        let shard = format!("{i}/3");
        let args = [k[0], k[1], "--shard", &shard];
        assert_eq!(run(&[&input, &own], &args).status.code(), Some(0));
        assert_eq!(run(&[&input, &shared], &args).status.code(), Some(0));
        let part = tree(&own);
        assert!(part.len() < 30, "a shard took everything");
        for (p, b) in part {
            assert!(union.insert(p, b).is_none(), "a file is in two shards");
        }
    }
    assert_eq!(union, whole);
    assert_eq!(tree(&shared), whole);
}

#[test]
fn resume_after_interruption_is_byte_identical() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    clean_tree(&input, 120);
    let key = key_file(t.path());
    let k = ["--key-file", key.to_str().unwrap(), "--jobs", "2"];
    let reference = t.path().join("ref");
    assert_eq!(run(&[&input, &reference], &k).status.code(), Some(0));
    let expected = tree(&reference);

    // Partial run (one shard), a leftover temp file, a lost output and a torn journal line.
    let out = t.path().join("out");
    assert_eq!(
        run(&[&input, &out], &[k[0], k[1], "--shard", "1/2"])
            .status
            .code(),
        Some(0)
    );
    write(&out.join(".deid-tmp/all/deid-leftover.part"), b"partial");
    let partial = tree(&out);
    let lost = partial.keys().next().unwrap();
    fs::remove_file(out.join(lost)).unwrap();
    let journal = out.join(".deid-state/journal-1-of-2.log");
    let mut text = fs::read_to_string(&journal).unwrap();
    text.push_str("deadbeef\tNO-PAT");
    fs::write(&journal, text).unwrap();
    assert_eq!(run(&[&input, &out], &k).status.code(), Some(0));
    assert_eq!(tree(&out), expected);
    assert!(!out.join(".deid-tmp").exists());

    // A real kill mid-run, then a rerun.
    let killed = t.path().join("killed");
    let mut child = deid()
        .args([
            "run",
            "-q",
            "--jobs",
            "1",
            "--key-file",
            key.to_str().unwrap(),
        ])
        .arg(&input)
        .arg(&killed)
        .spawn()
        .unwrap();
    // Kill as soon as some files are journaled (mid-run unless the run is very fast).
    let journal = killed.join(".deid-state/journal-all.log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline
        && fs::metadata(&journal).map_or(true, |m| m.len() == 0)
        && child.try_wait().unwrap().is_none()
    {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let killed_mid_run = child.try_wait().unwrap().is_none();
    eprintln!("killed mid-run: {killed_mid_run}");
    let _ = child.kill();
    let _ = child.wait();
    if killed_mid_run {
        eprintln!("outputs at kill: {}", tree(&killed).len());
        assert!(
            tree(&killed).len() < expected.len(),
            "the kill came too late"
        );
    }
    for p in tree(&killed).keys() {
        assert_eq!(
            tree(&killed)[p],
            expected[p],
            "a partial or different output"
        );
    }
    assert_eq!(run(&[&input, &killed], &k).status.code(), Some(0));
    assert_eq!(tree(&killed), expected);
}

#[test]
fn real_corpus_every_file_accounted_for() {
    let corpus = shared_dir().join("corpus/real");
    assert!(corpus.is_dir(), "missing {}", corpus.display());
    let t = tempfile::tempdir().unwrap();
    let (out, report) = (t.path().join("out"), t.path().join("r.jsonl"));
    let key = key_file(t.path());
    let o = run(&[&corpus, &out], &keyed(&key, &report));
    assert_exit(&o, 3);
    let n_inputs = walkdir::WalkDir::new(&corpus)
        .into_iter()
        .filter(|e| e.as_ref().unwrap().file_type().is_file())
        .count();
    let recs = records(&report);
    assert_eq!(recs.len(), n_inputs);
    let mut done = 0;
    for r in &recs {
        match r["status"].as_str().unwrap() {
            "done" => done += 1,
            "skipped" | "rejected" | "non-dicom" | "skipped-dicomdir" | "duplicate" => {
                assert!(r["reason"].as_str().is_some_and(|x| !x.is_empty()), "{r}")
            }
            other => panic!("unexpected status {other}: {r}"),
        }
    }
    assert!(recs.iter().any(|r| r["status"] == "rejected"));
    let files = tree(&out);
    assert_eq!(files.len(), done);
    // An independent parser reads a few outputs.
    let sample: Vec<String> = files
        .keys()
        .step_by((files.len() / 5).max(1))
        .map(|p| out.join(p).to_string_lossy().into_owned())
        .collect();
    let script = "import sys, pydicom\nfor p in sys.argv[1:]:\n    ds = pydicom.dcmread(p)\n    assert ds.PatientIdentityRemoved == 'YES', p\n    uid = ds.file_meta.get('MediaStorageSOPInstanceUID', '')\n    assert uid == '' or uid.startswith('2.25.'), p\n    assert 'SOPInstanceUID' not in ds or not ds.SOPInstanceUID or ds.SOPInstanceUID == uid, p\nprint('ok', len(sys.argv) - 1)";
    let py = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(&sample)
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
}

#[test]
fn usage_errors_and_help() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("missing");
    let o = deid()
        .arg("run")
        .arg(&missing)
        .arg(t.path().join("o"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = deid()
        .args(["run", "--shard", "4/3", "a", "b"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = deid()
        .args(["run", "--profile", "/nonexistent.toml", "a", "b"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = deid()
        .arg("run")
        .arg(t.path())
        .arg(t.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = deid().args(["run", "--help"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT"));
    assert!(help.contains("JOB_COMPLETION_INDEX+1"));
    assert!(help.contains("Exit codes"));
}

#[test]
fn profile_show_lists_rules() {
    let o = deid()
        .args([
            "profile",
            "show",
            "--option",
            "retain-safe-private",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let rules: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(rules.as_array().unwrap().len() > 100);
    let o = deid().args(["profile", "show"]).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("(0010,0010)"));
    let o = deid()
        .args(["profile", "show", "--option", "nope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn sample_testdata_runs_clean() {
    let sample = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/sample"
    ));
    let t = tempfile::tempdir().unwrap();
    let (out, report) = (t.path().join("out"), t.path().join("r.jsonl"));
    let key = key_file(t.path());
    let o = run(&[&sample, &out], &keyed(&key, &report));
    assert_exit(&o, 0);
    let files = tree(&out);
    assert_eq!(files.len(), 5);
    for (path, bytes) in &files {
        assert_no_phi(path, "an output path");
        let text = String::from_utf8_lossy(bytes).to_uppercase();
        for phi in [
            "DOE^JANE",
            "SMITH^JOHN",
            "MRN-000",
            "19700101",
            "SPRINGFIELD",
            "HOUSE^",
        ] {
            assert!(!text.contains(phi), "{phi} in {path}");
        }
    }
    assert_no_phi(&fs::read_to_string(&report).unwrap(), "the report");
}

#[cfg(unix)]
#[test]
fn output_inside_input_and_symlinks_are_not_walked() {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    clean_tree(&input, 4);
    std::os::unix::fs::symlink(&input, input.join("loop")).unwrap();
    let out = input.join("out");
    let report = t.path().join("r.jsonl");
    let key = key_file(t.path());
    let args = [
        "--key-file",
        key.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    assert_eq!(run(&[&input, &out], &args).status.code(), Some(0));
    let first = tree(&out);
    assert_eq!(first.len(), 4);
    // The second run must not pick up its own outputs.
    assert_eq!(run(&[&input, &out], &args).status.code(), Some(0));
    assert_eq!(tree(&out), first);
    let recs = records(&report);
    assert_eq!(recs.len(), 5, "{recs:?}");
    assert_eq!(recs.iter().filter(|r| r["kind"] == "symlink").count(), 1);
}

/// Clean Pixel Data through the CLI on real burned-in images: the ultrasound with regions is
/// cleaned (QA thumbnail written outside the output), the one without regions is rejected
/// by default and passed with a warning when asked; a QA folder inside the output is refused.
#[test]
fn clean_pixel_data_with_qa_thumbnails() {
    let corpus = shared_dir().join("corpus/real");
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in");
    fs::create_dir_all(input.join("DOE_JANE")).unwrap();
    fs::copy(
        corpus.join("deid-data/ultrasounds/GREYSCALE_IMAGE.dcm"),
        input.join("DOE_JANE/us.dcm"),
    )
    .unwrap();
    fs::copy(
        corpus.join("dicognito/test_burned_in_annotation_default/burned_in_yes.dcm"),
        input.join("DOE_JANE/sc.dcm"),
    )
    .unwrap();
    let key = key_file(t.path());
    let (out, report, qa) = (
        t.path().join("out"),
        t.path().join("r.jsonl"),
        t.path().join("qa"),
    );
    let qa_arg = qa.to_str().unwrap();
    let mut args = keyed(&key, &report).to_vec();
    args.extend(["--option", "clean-pixel-data", "--qa-dir", qa_arg]);
    let o = run(&[&input, &out], &args);
    assert_exit(&o, 3);
    let recs = records(&report);
    let cleaned: Vec<_> = recs.iter().filter(|r| r["status"] == "done").collect();
    assert_eq!(cleaned.len(), 1, "{recs:?}");
    assert!(cleaned[0]["pixels"]["frames"].as_u64().unwrap() >= 1);
    assert!(
        recs.iter().any(|r| r["kind"] == "burned-in-not-cleaned"),
        "{recs:?}"
    );
    let pngs: Vec<_> = fs::read_dir(&qa)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(pngs.len(), 1);
    assert!(fs::read(&pngs[0]).unwrap().starts_with(b"\x89PNG"));
    assert!(
        !tree(&out).keys().any(|k| k.ends_with(".png")),
        "no thumbnail in the output tree"
    );

    // Passing unmatched images on request: both files written, a warning recorded.
    let (out2, report2) = (t.path().join("out2"), t.path().join("r2.jsonl"));
    let mut args = keyed(&key, &report2).to_vec();
    args.extend(["--option", "clean-pixel-data", "--pass-unmatched-burned-in"]);
    assert_exit(&run(&[&input, &out2], &args), 0);
    let recs = records(&report2);
    assert!(
        recs.iter().any(|r| r["pixels"]["warnings"]
            .as_array()
            .is_some_and(|w| !w.is_empty())),
        "{recs:?}"
    );

    // A QA folder inside the output is refused before anything is written.
    let out3 = t.path().join("out3");
    let inner = out3.join("qa");
    let o = run(
        &[&input, &out3],
        &[
            "--key-file",
            key.to_str().unwrap(),
            "--option",
            "clean-pixel-data",
            "--qa-dir",
            inner.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 2);
    assert!(!out3.exists());
}
