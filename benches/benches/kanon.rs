//! k-anonymity benchmark: Adult and FARS (from `$DEID_SHARED_DIR/kanon`, default
//! `<workspace>/../shared/kanon`) at k = 2..100 with and without distinct 2-diversity, and a
//! 10-million-row synthetic table (runtime and peak RSS).
//!
//! `cargo bench -p deid-benches --bench kanon` runs everything; the environment variable
//! `KANON_BENCH` restricts it to a comma-separated subset of `adult,fars,synth`;
//! `KANON_SYNTH_ROWS` changes the synthetic size; `KANON_OUT=dir` also writes each release.
use std::path::PathBuf;
use std::time::Instant;

use dicom_deid::kanon::{
    Column, Hierarchies, Hierarchy, KanonConfig, LDiversity, Release, Table, anonymize,
};

fn shared_dir() -> PathBuf {
    match std::env::var_os("DEID_SHARED_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    }
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<f64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // fields after the command: state(skipped, not numeric) ppid ... utime is field 14 overall
    if f.len() > 12 {
        (f[10] + f[11]) / 100.0
    } else {
        0.0
    }
}

fn run(table: &Table, cfg: &KanonConfig, h: &Hierarchies, reps: usize) -> (Release, f64) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        let r = anonymize(table, cfg, h).expect("anonymize");
        times.push(t.elapsed().as_secs_f64() * 1e3);
        last = Some(r);
    }
    times.sort_by(f64::total_cmp);
    (last.expect("at least one run"), times[times.len() / 2])
}

fn bench_table(name: &str, file: &str, qis: &[&str], sens: &str, hier: &[&str]) {
    let dir = shared_dir().join("kanon");
    let table = Table::from_csv_path(dir.join(file), b';').expect("read table");
    let mut h = Hierarchies::new();
    for c in hier {
        let p = dir.join(format!("{name}_hierarchy_{c}.csv"));
        h.insert(
            *c,
            Hierarchy::from_csv_path(p, b';').expect("read hierarchy"),
        );
    }
    let out = std::env::var_os("KANON_OUT").map(PathBuf::from);
    println!("\n## {name} ({} rows, {} QIs)\n", table.n_rows(), qis.len());
    println!(
        "| k | l | GCP % | classes | suppressed | k achieved | l achieved | DM | C_avg | median ms |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for k in [2usize, 5, 10, 25, 50, 100] {
        for l in [None, Some(2usize)] {
            let mut cfg = KanonConfig::new(k, qis.iter().map(|s| s.to_string()).collect(), sens);
            cfg.l = l.map(|l| LDiversity::Distinct { l });
            let (r, ms) = run(&table, &cfg, &h, 5);
            let m = &r.metrics;
            println!(
                "| {k} | {} | {:.2} | {} | {} | {} | {} | {} | {:.3} | {:.1} |",
                l.map_or("-".to_string(), |l| l.to_string()),
                m.gcp_percent,
                m.classes,
                m.suppressed,
                m.k_achieved,
                m.l_achieved,
                m.dm,
                m.c_avg,
                ms
            );
            if let Some(o) = &out {
                let p = o.join(format!("{name}_k{k}_l{}.csv", l.unwrap_or(1)));
                r.write_csv(&table, p, b';').expect("write release");
            }
        }
    }
}

/// Deterministic synthetic population: age, zip (3-digit), income, sex, race, education,
/// marital status, occupation; sensitive diagnosis. Correlated like a census table.
fn synth(n: usize) -> Table {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let names = [
        "age",
        "zip",
        "income",
        "sex",
        "race",
        "education",
        "marital",
        "occupation",
        "diagnosis",
    ];
    let dicts: Vec<Vec<String>> = vec![
        (0..=99).map(|x| x.to_string()).collect(),
        (100..1000).map(|x| x.to_string()).collect(),
        (0..2000).map(|x| (x * 100).to_string()).collect(),
        vec!["F".into(), "M".into()],
        ["White", "Black", "Asian", "Native", "Other"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        (0..16).map(|x| format!("edu{x:02}")).collect(),
        ["Married", "Single", "Divorced", "Widowed", "Separated"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        (0..20).map(|x| format!("occ{x:02}")).collect(),
        (0..30).map(|x| format!("dx{x:02}")).collect(),
    ];
    let mut codes: Vec<Vec<u32>> = (0..names.len()).map(|_| Vec::with_capacity(n)).collect();
    for _ in 0..n {
        let r = next();
        let age = ((r % 60) + (r >> 8) % 40) as u32 % 100; // triangular-ish
        let zip = ((next() % 900) as u32 * (1 + (r >> 20) as u32 % 3)) % 900; // skewed
        let edu = ((next() % 16) as u32 + age / 20).min(15);
        let income = ((edu * 80 + age * 6) as u64 + next() % 600).min(1999) as u32;
        let sex = (next() % 2) as u32;
        let race = [0u32, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4][(next() % 11) as usize];
        let marital = if age < 25 {
            (next() % 4 != 0) as u32
        } else {
            (next() % 5) as u32
        };
        let occ = (edu + (next() % 8) as u32) % 20;
        let dx = (age / 10 + (next() % 12) as u32) % 30;
        for (c, v) in codes
            .iter_mut()
            .zip([age, zip, income, sex, race, edu, marital, occ, dx])
        {
            c.push(v);
        }
    }
    let cols = dicts
        .into_iter()
        .zip(codes)
        .map(|(dict, codes)| Column { dict, codes })
        .collect();
    Table::from_columns(names.iter().map(|s| s.to_string()).collect(), cols)
        .expect("synthetic table")
}

fn bench_synth() {
    let n: usize = std::env::var("KANON_SYNTH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000_000);
    let t = Instant::now();
    let table = synth(n);
    let gen_s = t.elapsed().as_secs_f64();
    let rss0 = peak_rss_mib().unwrap_or(0.0);
    let qis: Vec<String> = [
        "age",
        "zip",
        "income",
        "sex",
        "race",
        "education",
        "marital",
        "occupation",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    println!("\n## synthetic ({n} rows, 8 QIs: 3 numeric, 5 categorical; sensitive 30 values)\n");
    println!("table generated in {gen_s:.1} s, peak RSS after generation {rss0:.0} MiB");
    for l in [None, Some(2usize)] {
        let mut cfg = KanonConfig::new(10, qis.clone(), "diagnosis");
        cfg.l = l.map(|l| LDiversity::Distinct { l });
        let t = Instant::now();
        let c0 = cpu_seconds();
        let r = anonymize(&table, &cfg, &Hierarchies::new()).expect("anonymize synthetic");
        let s = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - c0;
        println!(
            "k=10 l={}: {s:.1} s wall, {cpu:.1} s CPU, GCP {:.2} %, {} classes, k achieved {}, peak RSS {:.0} MiB",
            l.map_or("-".into(), |l| l.to_string()),
            r.metrics.gcp_percent,
            r.metrics.classes,
            r.metrics.k_achieved,
            peak_rss_mib().unwrap_or(0.0)
        );
    }
}

fn main() {
    let which = std::env::var("KANON_BENCH").unwrap_or_else(|_| "adult,fars,synth".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# k-anonymity benchmark ({cores} cores)");
    if which.contains("adult") {
        bench_table(
            "adult",
            "adult.csv",
            &[
                "sex",
                "age",
                "race",
                "marital-status",
                "education",
                "native-country",
                "workclass",
                "occupation",
            ],
            "salary-class",
            &[
                "sex",
                "race",
                "marital-status",
                "education",
                "native-country",
                "workclass",
                "occupation",
            ],
        );
    }
    if which.contains("fars") {
        bench_table(
            "fars",
            "fars.csv",
            &[
                "iage",
                "ideathday",
                "ideathmon",
                "ihispanic",
                "iinjury",
                "irace",
                "isex",
            ],
            "istatenum",
            &["ideathmon", "ihispanic", "iinjury", "irace", "isex"],
        );
    }
    if which.contains("synth") {
        bench_synth();
    }
}
