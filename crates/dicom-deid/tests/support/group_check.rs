//! Independent group checker of a k-anonymous release: re-reads the OUTPUT table, groups the
//! rows by their QI cells as a reader would, and checks k, l, row order, untouched non-QI
//! columns and that every generalised cell covers the original value. It shares no code with
//! the algorithm (the l-diversity tests are recomputed here).
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

/// The l-diversity to check.
#[derive(Debug, Clone, Copy)]
pub enum LCheck {
    Distinct(usize),
    Entropy(f64),
    Recursive(f64, usize),
}

/// What the release must satisfy.
pub struct Spec<'a> {
    pub qis: &'a [&'a str],
    pub sensitive: &'a str,
    pub k: usize,
    pub l: Option<LCheck>,
    /// column -> hierarchy rows `[leaf, parent, ..., root]`
    pub hierarchies: HashMap<String, Vec<Vec<String>>>,
    pub max_suppressed: usize,
}

/// Figures found by the checker.
#[derive(Debug)]
pub struct Report {
    pub classes: usize,
    pub suppressed: usize,
    pub min_class: usize,
    pub min_distinct: usize,
}

pub fn read_csv(path: &Path, sep: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .delimiter(sep)
        .from_path(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let h = r
        .headers()
        .expect("header")
        .iter()
        .map(|s| s.trim().to_string())
        .collect();
    let rows = r
        .records()
        .map(|x| x.expect("record").iter().map(|s| s.to_string()).collect())
        .collect();
    (h, rows)
}

pub fn read_hierarchy(path: &Path, sep: char) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(sep).map(|s| s.trim().to_string()).collect())
        .collect()
}

fn l_ok(l: LCheck, sens: &[&str]) -> bool {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for s in sens {
        *counts.entry(s).or_default() += 1;
    }
    let mut c: Vec<usize> = counts.values().copied().collect();
    c.sort_unstable_by(|a, b| b.cmp(a));
    match l {
        LCheck::Distinct(l) => c.len() >= l,
        LCheck::Entropy(l) => {
            let t = sens.len() as f64;
            let h: f64 = c
                .iter()
                .map(|&x| -(x as f64 / t) * (x as f64 / t).ln())
                .sum();
            h >= l.ln() - 1e-9
        }
        LCheck::Recursive(cc, l) => {
            c.len() >= l && (l == 1 || (c[0] as f64) < cc * c[l - 1..].iter().sum::<usize>() as f64)
        }
    }
}

fn parse_range(cell: &str) -> Option<(f64, f64)> {
    let b = cell.as_bytes();
    for i in 1..b.len() {
        if b[i] == b'-' && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.') {
            let lo = cell[..i].trim().parse().ok()?;
            let hi = cell[i + 1..].trim().parse().ok()?;
            return Some((lo, hi));
        }
    }
    None
}

fn covers(cell: &str, orig: &str, hier: Option<&Vec<Vec<String>>>) -> bool {
    let (cell, orig) = (cell.trim(), orig.trim());
    if cell == orig || cell == "*" {
        return true;
    }
    if let (Some((lo, hi)), Ok(x)) = (parse_range(cell), orig.parse::<f64>()) {
        return lo <= x && x <= hi;
    }
    if let Some(body) = cell.strip_prefix('{').and_then(|c| c.strip_suffix('}')) {
        return body.split(',').any(|m| m.trim() == orig);
    }
    if let Some(h) = hier {
        return h
            .iter()
            .any(|row| row[0] == orig && row[1..].iter().any(|x| x == cell));
    }
    false
}

/// Checks `output` (header + rows) against `input`; panics on the first violation.
pub fn check(
    input: &(Vec<String>, Vec<Vec<String>>),
    output: &(Vec<String>, Vec<Vec<String>>),
    spec: &Spec,
) -> Report {
    let (ih, irows) = input;
    let (oh, orows) = output;
    assert_eq!(ih, oh, "the release must keep the columns");
    assert_eq!(irows.len(), orows.len(), "the release must keep every row");
    let qi_idx: Vec<usize> = spec
        .qis
        .iter()
        .map(|q| {
            ih.iter()
                .position(|h| h == q)
                .unwrap_or_else(|| panic!("no column {q}"))
        })
        .collect();
    let si = ih
        .iter()
        .position(|h| h == spec.sensitive)
        .expect("sensitive column");
    let mut groups: HashMap<Vec<&str>, Vec<usize>> = HashMap::new();
    let mut suppressed = 0;
    for (r, (ir, or)) in irows.iter().zip(orows).enumerate() {
        assert_eq!(ir.len(), or.len(), "row {r}: field count");
        for c in 0..ir.len() {
            if !qi_idx.contains(&c) {
                assert_eq!(ir[c], or[c], "row {r}: non-QI column {} changed", ih[c]);
            }
        }
        let cells: Vec<&str> = qi_idx.iter().map(|&c| or[c].as_str()).collect();
        if cells.iter().all(|c| c.trim() == "*") {
            suppressed += 1;
            continue;
        }
        for (j, &c) in qi_idx.iter().enumerate() {
            assert!(
                covers(&or[c], &ir[c], spec.hierarchies.get(spec.qis[j])),
                "row {r}, {}: {:?} does not cover {:?}",
                spec.qis[j],
                or[c],
                ir[c]
            );
        }
        groups.entry(cells).or_default().push(r);
    }
    assert!(
        suppressed <= spec.max_suppressed,
        "{suppressed} rows suppressed"
    );
    let mut min_class = usize::MAX;
    let mut min_distinct = usize::MAX;
    for (key, rows) in &groups {
        assert!(
            rows.len() >= spec.k,
            "class {key:?} has {} < k rows",
            rows.len()
        );
        let sens: Vec<&str> = rows.iter().map(|&r| irows[r][si].as_str()).collect();
        if let Some(l) = spec.l {
            assert!(l_ok(l, &sens), "class {key:?} violates {l:?}: {sens:?}");
        }
        let mut d = sens.clone();
        d.sort_unstable();
        d.dedup();
        min_class = min_class.min(rows.len());
        min_distinct = min_distinct.min(d.len());
    }
    Report {
        classes: groups.len(),
        suppressed,
        min_class,
        min_distinct,
    }
}
