//! Property and unit tests of `dicom_deid::kanon`, checked by an independent group counter
//! over the written release.
mod support;

use std::collections::HashMap;

use dicom_deid::kanon::{
    CategoricalRecoding, Hierarchies, Hierarchy, KanonConfig, KanonError, LDiversity, Table,
    anonymize,
};
use proptest::prelude::*;
use support::group_check::{self, LCheck, Spec};

fn release_rows(
    table: &Table,
    cfg: &KanonConfig,
    h: &Hierarchies,
) -> Result<(Vec<String>, Vec<Vec<String>>), KanonError> {
    let rel = anonymize(table, cfg, h)?;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("out.csv");
    rel.write_csv(table, &p, b';')?;
    Ok(group_check::read_csv(&p, b';'))
}

fn lcheck(l: LDiversity) -> LCheck {
    match l {
        LDiversity::Distinct { l } => LCheck::Distinct(l),
        LDiversity::Entropy { l } => LCheck::Entropy(l),
        LDiversity::Recursive { c, l } => LCheck::Recursive(c, l),
    }
}

fn edu_hierarchy() -> (Hierarchy, Vec<Vec<String>>) {
    let rows: Vec<Vec<String>> = [
        "prim;low;*",
        "sec;low;*",
        "bach;high;*",
        "mast;high;*",
        "phd;high;*",
    ]
    .iter()
    .map(|l| l.split(';').map(String::from).collect())
    .collect();
    (Hierarchy::from_rows(rows.clone()).expect("hierarchy"), rows)
}

const EDU: [&str; 5] = ["prim", "sec", "bach", "mast", "phd"];

/// Rows of (age, zip, education, diagnosis), k, l kind, hierarchy recoding.
type Case = (Vec<(u32, u32, usize, usize)>, usize, u8, bool);

fn arb_case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((0u32..90, 0u32..5, 0usize..5, 0usize..4), 1..160),
        1usize..25,
        0u8..4,
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn every_release_is_k_anonymous_and_l_diverse((rows, k, lk, hier_mode) in arb_case()) {
        let headers = vec!["id".to_string(), "age".into(), "zip".into(), "edu".into(), "dx".into()];
        let data: Vec<Vec<String>> = rows
            .iter()
            .enumerate()
            .map(|(i, &(age, zip, edu, dx))| {
                vec![format!("r{i}"), age.to_string(), format!("z{zip}"), EDU[edu].to_string(), format!("d{dx}")]
            })
            .collect();
        let table = Table::from_rows(headers.clone(), &data).expect("table");
        let l = match lk {
            0 => None,
            1 => Some(LDiversity::Distinct { l: 2 }),
            2 => Some(LDiversity::Entropy { l: 1.5 }),
            _ => Some(LDiversity::Recursive { c: 2.0, l: 2 }),
        };
        let mut cfg = KanonConfig::new(k, vec!["age".into(), "zip".into(), "edu".into()], "dx");
        cfg.l = l;
        if hier_mode {
            cfg.recoding = CategoricalRecoding::Hierarchy;
        }
        let (hy, hrows) = edu_hierarchy();
        let mut h = Hierarchies::new();
        h.insert("edu", hy);
        match release_rows(&table, &cfg, &h) {
            Ok(out) => {
                let spec = Spec {
                    qis: &["age", "zip", "edu"],
                    sensitive: "dx",
                    k,
                    l: l.map(lcheck),
                    hierarchies: HashMap::from([("edu".to_string(), hrows)]),
                    max_suppressed: 0,
                };
                let rep = group_check::check(&(headers, data), &out, &spec);
                prop_assert!(rep.min_class >= k);
            }
            Err(KanonError::Infeasible(_)) => {
                // only when the whole table cannot be one class
                let mut counts: HashMap<&str, u32> = HashMap::new();
                for r in &data {
                    *counts.entry(r[4].as_str()).or_default() += 1;
                }
                let c: Vec<u32> = counts.values().copied().collect();
                let whole_ok = l.is_none_or(|l| l.satisfied_by(&c));
                prop_assert!(data.len() < k || !whole_ok, "infeasible reported for a feasible table");
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}

#[test]
fn suppression_stays_within_budget_and_valid() {
    let headers = vec!["age".to_string(), "dx".into()];
    let mut data: Vec<Vec<String>> = (0..60)
        .map(|i| vec![(30 + i % 5).to_string(), format!("d{}", i % 3)])
        .collect();
    data.push(vec!["99".into(), "d0".into()]); // an outlier
    let table = Table::from_rows(headers.clone(), &data).expect("table");
    let mut cfg = KanonConfig::new(5, vec!["age".into()], "dx");
    cfg.max_suppress = 5.0;
    cfg.l = Some(LDiversity::Distinct { l: 2 });
    let rel = anonymize(&table, &cfg, &Hierarchies::new()).expect("anonymize");
    assert!(rel.metrics.suppressed <= 3);
    assert!(rel.is_suppressed(60), "the outlier is suppressed");
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("o.csv");
    rel.write_csv(&table, &p, b',').expect("write");
    let out = group_check::read_csv(&p, b',');
    let spec = Spec {
        qis: &["age"],
        sensitive: "dx",
        k: 5,
        l: Some(LCheck::Distinct(2)),
        hierarchies: HashMap::new(),
        max_suppressed: 3,
    };
    let rep = group_check::check(&(headers, data), &out, &spec);
    assert_eq!(rep.suppressed, rel.metrics.suppressed);
}

#[test]
fn typed_errors() {
    let headers = vec!["a".to_string(), "s".into()];
    let data = vec![
        vec!["1".to_string(), "x".into()],
        vec!["2".into(), "x".into()],
    ];
    let t = Table::from_rows(headers, &data).expect("table");
    let cfg = KanonConfig::new(3, vec!["a".into()], "s");
    assert!(matches!(
        anonymize(&t, &cfg, &Hierarchies::new()),
        Err(KanonError::Infeasible(_))
    ));
    let mut cfg = KanonConfig::new(1, vec!["a".into()], "s");
    cfg.l = Some(LDiversity::Distinct { l: 2 });
    assert!(matches!(
        anonymize(&t, &cfg, &Hierarchies::new()),
        Err(KanonError::Infeasible(_))
    ));
    let cfg = KanonConfig::new(1, vec!["nope".into()], "s");
    assert!(matches!(
        anonymize(&t, &cfg, &Hierarchies::new()),
        Err(KanonError::UnknownColumn(_))
    ));
    let cfg = KanonConfig::new(0, vec!["a".into()], "s");
    assert!(matches!(
        anonymize(&t, &cfg, &Hierarchies::new()),
        Err(KanonError::InvalidConfig(_))
    ));
    let mut h = Hierarchies::new();
    h.insert(
        "a",
        Hierarchy::from_rows(vec![vec!["1".into(), "*".into()]]).expect("h"),
    );
    let cfg = KanonConfig::new(1, vec!["a".into()], "s");
    assert!(matches!(
        anonymize(&t, &cfg, &h),
        Err(KanonError::ValueNotInHierarchy { .. })
    ));
}

#[test]
fn metrics_follow_the_shared_definition() {
    // two classes by construction: ages 10..=11 and 20..=21 (domain 10..21, range 11)
    let headers = vec!["age".to_string(), "s".into()];
    let data: Vec<Vec<String>> = [10, 11, 10, 11, 20, 21, 20, 21]
        .iter()
        .map(|a| vec![a.to_string(), "x".into()])
        .collect();
    let t = Table::from_rows(headers, &data).expect("table");
    let rel = anonymize(
        &t,
        &KanonConfig::new(4, vec!["age".into()], "s"),
        &Hierarchies::new(),
    )
    .expect("ok");
    let m = &rel.metrics;
    assert_eq!(m.classes, 2);
    assert_eq!(m.dm, 32);
    assert!(
        (m.gcp_percent - 100.0 / 11.0).abs() < 1e-9,
        "{}",
        m.gcp_percent
    );
    assert_eq!(rel.generalized(0).expect("class")[0], "10-11");
}
