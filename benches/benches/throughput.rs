//! Throughput of `deid run` over a generated PACS export tree, against `cp -r` of the same
//! tree measured in the same run (the floor: a plain copy of the same bytes).
//!
//! ```text
//! cargo build --release -p deid-cli
//! cargo bench -p deid-benches --bench throughput
//! ```
//! Environment: `DEID_BENCH_PATIENTS` (comma-separated tree sizes, default `4,12`),
//! `DEID_BENCH_DIR` (where trees go, default `target/bench-tree`), `DEID_BENCH_REPS`
//! (default 3; the median is reported). Caches are warm for both commands.

use deid_benches::tree::generate;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Peak resident set of the largest child waited for so far, in MiB.
fn children_peak_rss_mib() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    usage.ru_maxrss as f64 / 1024.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn timed(cmd: &mut Command) -> f64 {
    let t = Instant::now();
    let out = cmd.output().expect("command runs");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success() || out.status.code() == Some(3),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    secs
}

fn main() {
    let deid = workspace().join("target/release/deid");
    assert!(
        deid.exists(),
        "build it first: cargo build --release -p deid-cli"
    );
    let base = std::env::var_os("DEID_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/bench-tree"));
    let reps: usize = std::env::var("DEID_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let sizes: Vec<usize> = std::env::var("DEID_BENCH_PATIENTS")
        .unwrap_or_else(|_| "4,12".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let key = base.join("bench.key");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(&key, b"benchmark key, not a secret 0123456789").unwrap();
    println!(
        "| patients | files | MiB | cp -r (s) | deid run (s) | ratio | files/s | MiB/s | peak RSS (MiB) |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for patients in sizes {
        let tree = base.join(format!("tree-{patients}"));
        let _ = std::fs::remove_dir_all(&tree);
        let stats = generate(&tree, patients).unwrap();
        let files = stats.dicom_files + stats.other_files;
        let mib = stats.bytes as f64 / (1024.0 * 1024.0);
        let copy = base.join("copy");
        let out = base.join("out");
        let mut cp_times = Vec::new();
        let mut deid_times = Vec::new();
        let mut rss: f64 = 0.0;
        for _ in 0..reps {
            let _ = std::fs::remove_dir_all(&copy);
            cp_times.push(timed(Command::new("cp").arg("-r").arg(&tree).arg(&copy)));
            let _ = std::fs::remove_dir_all(&out);
            deid_times.push(timed(
                Command::new(&deid)
                    .arg("run")
                    .arg("-q")
                    .arg("--key-file")
                    .arg(&key)
                    .arg(&tree)
                    .arg(&out),
            ));
            rss = rss.max(children_peak_rss_mib());
        }
        let (cp, run) = (median(cp_times), median(deid_times));
        println!(
            "| {patients} | {files} | {mib:.0} | {cp:.2} | {run:.2} | {:.2} | {:.0} | {:.0} | {rss:.1} |",
            run / cp,
            files as f64 / run,
            mib / run
        );
        check_outputs(&out, stats.dicom_files);
        let _ = std::fs::remove_dir_all(&copy);
        let _ = std::fs::remove_dir_all(&out);
        let _ = std::fs::remove_dir_all(&tree);
    }
}

/// Zero failures: every generated DICOM file has an output.
fn check_outputs(out: &Path, expected: usize) {
    let outputs = walkdir::WalkDir::new(out)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "dcm"))
        .count();
    assert_eq!(
        outputs, expected,
        "every DICOM file of the tree is de-identified"
    );
}
