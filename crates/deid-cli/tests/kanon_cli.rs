//! End-to-end test of `deid kanon` on the shared Adult table (k = 10, l = 2, hierarchies):
//! the release is checked by the independent group checker, by pyCANON and by the shared
//! `kanon_check.py`. The shared directory is `$DEID_SHARED_DIR`, default
//! `<workspace root>/../shared`; the test FAILS when it is missing.
#[path = "../../dicom-deid/tests/support/group_check.rs"]
mod group_check;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use group_check::{LCheck, Spec};

const QIS: [&str; 8] = [
    "sex",
    "age",
    "race",
    "marital-status",
    "education",
    "native-country",
    "workclass",
    "occupation",
];
const HIER: [&str; 7] = [
    "sex",
    "race",
    "marital-status",
    "education",
    "native-country",
    "workclass",
    "occupation",
];

fn kanon_dir() -> PathBuf {
    let shared = match std::env::var_os("DEID_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let dir = shared.join("kanon");
    assert!(
        dir.join("adult.csv").is_file(),
        "shared data missing: {} (set DEID_SHARED_DIR)",
        dir.display()
    );
    dir
}

fn last_number(out: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(out);
    s.split_whitespace()
        .rev()
        .find_map(|w| w.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no number in pycanon output {s:?}"))
}

#[test]
fn adult_k10_l2_passes_all_checkers() {
    let dir = kanon_dir();
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("release.csv");
    let metrics = tmp.path().join("metrics.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_deid"));
    cmd.arg("kanon")
        .arg(dir.join("adult.csv"))
        .args([
            "--sep",
            ";",
            "--qi",
            &QIS.join(","),
            "--sensitive",
            "salary-class",
        ])
        .args(["--k", "10", "--l", "2", "-o"])
        .arg(&out)
        .arg("--metrics")
        .arg(&metrics);
    for h in HIER {
        cmd.arg("--hierarchy").arg(format!(
            "{h}={}",
            dir.join(format!("adult_hierarchy_{h}.csv")).display()
        ));
    }
    let res = cmd.output().expect("run deid");
    assert!(
        res.status.success(),
        "deid failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );

    // 1. independent group checker
    let input = group_check::read_csv(&dir.join("adult.csv"), b';');
    let output = group_check::read_csv(&out, b';');
    let hierarchies: HashMap<String, Vec<Vec<String>>> = HIER
        .iter()
        .map(|h| {
            let p = dir.join(format!("adult_hierarchy_{h}.csv"));
            (h.to_string(), group_check::read_hierarchy(&p, ';'))
        })
        .collect();
    let spec = Spec {
        qis: &QIS,
        sensitive: "salary-class",
        k: 10,
        l: Some(LCheck::Distinct(2)),
        hierarchies,
        max_suppressed: 0,
    };
    let rep = group_check::check(&input, &output, &spec);
    assert!(rep.min_class >= 10 && rep.min_distinct >= 2, "{rep:?}");

    // metrics JSON agrees with the checker's counts
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metrics).expect("metrics")).expect("json");
    assert_eq!(m["classes"].as_u64(), Some(rep.classes as u64));
    assert_eq!(m["suppressed"].as_u64(), Some(0));

    // 2. pyCANON on a comma-separated copy without suppressed rows
    let comma = tmp.path().join("release_comma.csv");
    let mut w = csv::Writer::from_path(&comma).expect("comma copy");
    w.write_record(&output.0).expect("header");
    for r in &output.1 {
        w.write_record(r).expect("row");
    }
    w.flush().expect("flush");
    let qi_args: Vec<String> = QIS
        .iter()
        .flat_map(|q| ["--qi".to_string(), q.to_string()])
        .collect();
    let k = Command::new("python3")
        .args(["-m", "pycanon.cli", "k-anonymity"])
        .arg(&comma)
        .args(&qi_args)
        .output()
        .expect("run python3 -m pycanon.cli (pip install pycanon)");
    assert!(
        k.status.success(),
        "pycanon k: {}",
        String::from_utf8_lossy(&k.stderr)
    );
    assert!(
        last_number(&k.stdout) >= 10.0,
        "pycanon k = {}",
        String::from_utf8_lossy(&k.stdout)
    );
    let l = Command::new("python3")
        .args(["-m", "pycanon.cli", "l-diversity"])
        .arg(&comma)
        .args(&qi_args)
        .args(["--sa", "salary-class"])
        .output()
        .expect("run pycanon l-diversity");
    assert!(
        l.status.success(),
        "pycanon l: {}",
        String::from_utf8_lossy(&l.stderr)
    );
    assert!(
        last_number(&l.stdout) >= 2.0,
        "pycanon l = {}",
        String::from_utf8_lossy(&l.stdout)
    );

    // 3. the shared kanon_check.py (coverage, k, l, and the one GCP metric)
    let check_json = tmp.path().join("check.json");
    let mut c = Command::new("python3");
    c.arg(dir.join("kanon_check.py"))
        .arg("--input")
        .arg(dir.join("adult.csv"))
        .arg("--output")
        .arg(&out)
        .args([
            "--qi",
            &QIS.join(","),
            "--sensitive",
            "salary-class",
            "--k",
            "10",
            "--l",
            "2",
        ])
        .args(["--sep", ";", "--quiet", "--json"])
        .arg(&check_json)
        .arg("--hierarchy");
    for h in HIER {
        c.arg(format!(
            "{h}={}",
            dir.join(format!("adult_hierarchy_{h}.csv")).display()
        ));
    }
    let r = c.output().expect("run kanon_check.py");
    assert!(
        r.status.success(),
        "kanon_check.py: {}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    let cj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&check_json).expect("check json"))
            .expect("json");
    let ours = m["gcp_percent"].as_f64().expect("gcp");
    let theirs = cj["gcp_percent"].as_f64().expect("gcp");
    assert!(
        (ours - theirs).abs() < 0.01,
        "GCP ours {ours} vs checker {theirs}"
    );
    assert_eq!(cj["classes"].as_u64(), Some(rep.classes as u64));
}

#[test]
fn usage_errors_exit_2() {
    let dir = kanon_dir();
    let st = Command::new(env!("CARGO_BIN_EXE_deid"))
        .arg("kanon")
        .arg(dir.join("adult.csv"))
        .args([
            "--sep",
            ";",
            "--qi",
            "nope",
            "--sensitive",
            "salary-class",
            "--k",
            "5",
            "-o",
        ])
        .arg(std::env::temp_dir().join("deid-never-written.csv"))
        .status()
        .expect("run deid");
    assert_eq!(st.code(), Some(2));
    let st = Command::new(env!("CARGO_BIN_EXE_deid"))
        .args(["kanon", "--bogus"])
        .status()
        .expect("run deid");
    assert_eq!(st.code(), Some(2));
}
