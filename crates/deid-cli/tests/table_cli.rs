//! End-to-end tests of `deid table` and `deid run --kanon`, running the real binary and
//! checking the files with an independent parser (pydicom).

mod common;

use common::{CT_IMAGE, deid, image_file, shared_dir};
use dicom_core::VR;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const KEY: &str = "test-key-0123456789abcdef-0123456789";
const K: usize = 5;
const QIS: [&str; 4] = ["age", "PatientSex", "PatientSize", "PatientWeight"];

fn workspace() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// One small explicit VR little endian CT file with patient characteristics.
#[allow(clippy::too_many_arguments)]
fn dicom(
    pid: &str,
    study: &str,
    series: &str,
    sop: &str,
    age: &str,
    sex: &str,
    size: &str,
    weight: &str,
) -> Vec<u8> {
    let attributes = [
        (0x0008, 0x0020, VR::DA, "20240131"),
        (0x0008, 0x0060, VR::CS, "CT"),
        (0x0010, 0x0010, VR::PN, "DOE^JANE"),
        (0x0010, 0x0020, VR::LO, pid),
        (0x0010, 0x0030, VR::DA, "19700101"),
        (0x0010, 0x0040, VR::CS, sex),
        (0x0010, 0x1010, VR::AS, age),
        (0x0010, 0x1020, VR::DS, size),
        (0x0010, 0x1030, VR::DS, weight),
        (0x0020, 0x000D, VR::UI, study),
        (0x0020, 0x000E, VR::UI, series),
    ];
    image_file(CT_IMAGE, sop, &attributes, 7)
}

/// 30 patients, two series each, varied ages, sexes, sizes and weights, and one outlier.
fn tree(root: &Path) {
    for i in 0..30u32 {
        let pid = format!("MRN{i:04}");
        let (age, sex, size, weight) = if i == 29 {
            (
                "097Y".to_string(),
                "O",
                "2.31".to_string(),
                "181".to_string(),
            )
        } else {
            (
                format!("{:03}Y", 20 + (i * 7) % 60),
                ["F", "M"][(i % 2) as usize],
                format!("1.{}", 50 + (i * 13) % 40),
                format!("{}", 50 + (i * 11) % 50),
            )
        };
        let study = format!("1.2.826.0.1.3680043.99.{i}");
        for s in 0..2 {
            let series = format!("{study}.{s}");
            let sop = format!("{series}.1");
            let path = root.join(format!("DOE_{i}/series{s}.dcm"));
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(
                &path,
                dicom(&pid, &study, &series, &sop, &age, sex, &size, &weight),
            )
            .unwrap();
        }
    }
}

/// Every .dcm under `root` read with pydicom: file -> keyword -> value (as str, "" if empty).
fn pydicom_values(root: &Path) -> BTreeMap<String, HashMap<String, String>> {
    let script = r#"
import sys, os, json, pydicom
out = {}
for d, dirs, files in os.walk(sys.argv[1]):
    dirs[:] = [x for x in dirs if not x.startswith('.')]
    for f in files:
        if not f.endswith('.dcm'):
            continue
        p = os.path.join(d, f)
        ds = pydicom.dcmread(p)
        row = {}
        for kw in ['PatientID', 'PatientAge', 'PatientSex', 'PatientSize', 'PatientWeight', 'PatientBirthDate']:
            v = ds.get(kw)
            row[kw] = '' if v is None else str(v)
        row['pixels'] = str(len(ds.PixelData))
        out[p] = row
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(root)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn range(cell: &str) -> Option<(f64, f64)> {
    (1..cell.len()).find_map(|i| {
        if cell.as_bytes()[i] != b'-' {
            return None;
        }
        Some((cell[..i].parse().ok()?, cell[i + 1..].parse().ok()?))
    })
}

/// A released cell against the value in a file, per the documented forms.
fn agrees(column: &str, released: &str, file: &str) -> bool {
    let file_num = |s: &str| -> Option<f64> {
        if column == "age" {
            s.strip_suffix('Y')?.parse().ok()
        } else {
            s.parse().ok()
        }
    };
    if released.starts_with('{') || released == "*" {
        return file.is_empty();
    }
    match range(released) {
        Some((lo, hi)) => file_num(file).is_some_and(|x| lo <= x && x <= hi && x == lo),
        None => match (released.parse::<f64>(), file_num(file)) {
            (Ok(r), Some(x)) => r == x,
            _ => released == file,
        },
    }
}

#[test]
fn run_with_kanon_writes_a_k_anonymous_table_that_agrees_with_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in"), tmp.path().join("out"));
    tree(&input);
    let key = tmp.path().join("key");
    fs::write(&key, KEY).unwrap();
    let spec = tmp.path().join("kanon.toml");
    fs::write(
        &spec,
        format!(
            "k = {K}\nqis = [{}]\nmax_suppress = 10.0\n",
            QIS.map(|q| format!("{q:?}")).join(", ")
        ),
    )
    .unwrap();
    let released_csv = tmp.path().join("released.csv");
    let out = deid()
        .arg("run")
        .arg("--key-file")
        .arg(&key)
        .arg("--profile")
        .arg(workspace().join("profiles/research.toml"))
        .arg("--kanon")
        .arg(&spec)
        .arg("--table-out")
        .arg(&released_csv)
        .arg(&input)
        .arg(&output)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("k-anonymity: 30 patients"), "{stderr}");
    assert!(!stderr.contains("MRN"), "PHI on stderr: {stderr}");

    // The released table, checked with an independent group counter.
    let mut rdr = csv::Reader::from_path(&released_csv).unwrap();
    let headers: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(headers[0], "PatientID");
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let qi_cols: Vec<usize> = QIS.iter().map(|q| col(q)).collect();
    let rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    assert_eq!(rows.len(), 30);
    let mut groups: HashMap<Vec<&str>, usize> = HashMap::new();
    let mut suppressed = Vec::new();
    for r in &rows {
        assert!(!r[0].starts_with("MRN"), "PatientID not pseudonymous");
        let qi: Vec<&str> = qi_cols.iter().map(|&c| r[c].as_str()).collect();
        if qi.iter().all(|v| *v == "*") {
            suppressed.push(r[0].clone());
        } else {
            *groups.entry(qi).or_default() += 1;
        }
    }
    assert!(!groups.is_empty());
    for (g, n) in &groups {
        assert!(*n >= K, "class {g:?} has {n} < {K} patients");
    }
    assert!(suppressed.len() <= 3, "more than 10 % suppressed");
    let generalised = rows
        .iter()
        .flat_map(|r| qi_cols.iter().map(move |&c| r[c].as_str()))
        .filter(|v| range(v).is_some() || v.starts_with('{'))
        .count();
    assert!(
        generalised > 0,
        "nothing was generalised: the test proves nothing"
    );
    eprintln!(
        "released: {generalised} generalised cells, {} withheld",
        suppressed.len()
    );

    // The files, read by pydicom, agree with the released rows.
    let files = pydicom_values(&output);
    let by_row: HashMap<&str, &Vec<String>> = rows.iter().map(|r| (r[0].as_str(), r)).collect();
    let mut seen = 0;
    for (path, f) in &files {
        let pid = f["PatientID"].as_str();
        assert!(
            !suppressed.iter().any(|s| s == pid),
            "withheld patient has a file: {path}"
        );
        let row = by_row
            .get(pid)
            .unwrap_or_else(|| panic!("file of unknown patient {path}"));
        let kw = ["PatientAge", "PatientSex", "PatientSize", "PatientWeight"];
        for (q, kw) in QIS.iter().zip(kw) {
            let released = &row[col(q)];
            assert!(
                agrees(q, released, &f[kw]),
                "{path}: {q} released {released:?}, file {:?}",
                f[kw]
            );
        }
        assert_eq!(f["pixels"], "64");
        seen += 1;
    }
    assert_eq!(seen, 2 * (30 - suppressed.len()));
    for s in &suppressed {
        assert!(
            stderr.contains(&format!("withheld patient {s}")),
            "{stderr}"
        );
        assert!(
            !output.join(s).exists(),
            "folder of a withheld patient left"
        );
    }

    // Re-extracting the table from the written-back tree gives the released values.
    let again = tmp.path().join("again.csv");
    let out = deid()
        .arg("table")
        .arg(&output)
        .arg("-o")
        .arg(&again)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut rdr = csv::Reader::from_path(&again).unwrap();
    assert_eq!(rdr.records().count(), 30 - suppressed.len());

    // The same output again: refused (it would re-create the withheld patients).
    let out = deid()
        .arg("run")
        .arg("-q")
        .arg("--key-file")
        .arg(&key)
        .arg(&input)
        .arg(&output)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_kanon_spec_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    tree(&input);
    let spec = tmp.path().join("kanon.toml");
    fs::write(&spec, "k = 0\nqis = [\"age\"]\n").unwrap();
    let out = deid()
        .args(["run", "-q", "--kanon"])
        .arg(&spec)
        .arg(&input)
        .arg(tmp.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !tmp.path().join("out").exists(),
        "nothing is written on a bad spec"
    );
}

#[test]
fn table_of_the_real_corpus() {
    let corpus = shared_dir().join("corpus/real");
    let tmp = tempfile::tempdir().unwrap();
    let csv_path = tmp.path().join("t.csv");
    let out = deid()
        .args(["table", "--level", "series"])
        .arg(&corpus)
        .arg("-o")
        .arg(&csv_path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = fs::read_to_string(&csv_path).unwrap();
    assert!(text.starts_with(
        "PatientID,StudyInstanceUID,SeriesInstanceUID,age,PatientSex,PatientSize,PatientWeight,"
    ));
    assert!(text.lines().count() > 1);
    let out = deid()
        .args(["table", "--columns", "NotAKeyword"])
        .arg(&corpus)
        .arg("-o")
        .arg(&csv_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
