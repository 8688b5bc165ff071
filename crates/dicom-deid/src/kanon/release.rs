//! The anonymised release: classes, generalised cells, suppression, metrics, CSV output.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use super::encode::{Attr, AttrKind, Encoded};
use super::ldiv::{self, LDiversity};
use super::table::Table;
use super::{CategoricalRecoding, KanonConfig, KanonError};

const SUPPRESSED: u32 = u32::MAX;

/// One published equivalence class.
#[derive(Debug, Clone, Serialize)]
pub struct EqClass {
    /// The generalised QI cells, in the order of [`KanonConfig::qis`].
    pub values: Vec<String>,
    /// Number of rows.
    pub size: usize,
}

/// Information loss of one QI.
#[derive(Debug, Clone, Serialize)]
pub struct QiLoss {
    /// The QI column.
    pub qi: String,
    /// Mean loss of the column over all rows, in percent.
    pub gcp_percent: f64,
}

/// Figures of a release (definitions of `shared/kanon/README.md`).
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    /// Number of rows.
    pub records: usize,
    /// The QI columns.
    pub qis: Vec<String>,
    /// The sensitive column.
    pub sensitive: String,
    /// Required k.
    pub k: usize,
    /// Required l-diversity, if any.
    pub l: Option<LDiversity>,
    /// Smallest class.
    pub k_achieved: usize,
    /// Smallest number of distinct sensitive values in a class.
    pub l_achieved: usize,
    /// Number of (non-suppressed) equivalence classes.
    pub classes: usize,
    /// Suppressed rows.
    pub suppressed: usize,
    /// Global certainty penalty (= NCP) in percent: mean loss over all rows and QIs.
    pub gcp_percent: f64,
    /// Per-QI loss.
    pub gcp_per_qi: Vec<QiLoss>,
    /// Discernibility: sum of squared class sizes plus suppressed rows times n.
    pub dm: u64,
    /// Normalised average class size: (n / classes) / k.
    pub c_avg: f64,
    /// Wall time of the anonymisation (encoding, partitioning, generalisation, verification).
    pub runtime_ms: f64,
}

impl Metrics {
    /// A short human-readable summary, one figure per line.
    pub fn summary(&self) -> String {
        let per: Vec<String> = self
            .gcp_per_qi
            .iter()
            .map(|x| format!("{} {:.2}", x.qi, x.gcp_percent))
            .collect();
        format!(
            "records       {}\nk achieved    {} (required {})\nl achieved    {} (distinct)\nclasses       {}\nsuppressed    {}\nGCP           {:.2} %\n  per QI      {}\nDM            {}\nC_avg         {:.3}\nruntime       {:.1} ms\n",
            self.records,
            self.k_achieved,
            self.k,
            self.l_achieved,
            self.classes,
            self.suppressed,
            self.gcp_percent,
            per.join(", "),
            self.dm,
            self.c_avg,
            self.runtime_ms
        )
    }
}

/// The result of [`super::anonymize`].
#[derive(Debug, Clone)]
pub struct Release {
    qi_cols: Vec<usize>,
    class_of_row: Vec<u32>,
    classes: Vec<EqClass>,
    /// Row ids of every class (for plotting and inspection).
    members: Vec<Vec<u32>>,
    /// The figures of the release.
    pub metrics: Metrics,
}

impl Release {
    /// The published classes.
    pub fn classes(&self) -> &[EqClass] {
        &self.classes
    }

    /// The class of `row`, or `None` when the row is suppressed.
    pub fn class_of(&self, row: usize) -> Option<usize> {
        match self.class_of_row[row] {
            SUPPRESSED => None,
            c => Some(c as usize),
        }
    }

    /// The rows of class `class`.
    pub fn members(&self, class: usize) -> &[u32] {
        &self.members[class]
    }

    /// Whether `row` is suppressed (`*` in every QI).
    pub fn is_suppressed(&self, row: usize) -> bool {
        self.class_of_row[row] == SUPPRESSED
    }

    /// The generalised QI cells of `row` (`None` when suppressed).
    pub fn generalized(&self, row: usize) -> Option<&[String]> {
        self.class_of(row)
            .map(|c| self.classes[c].values.as_slice())
    }

    /// Table column indices of the QIs.
    pub fn qi_columns(&self) -> &[usize] {
        &self.qi_cols
    }

    /// Writes the release: every row of `table` in order, same columns, QI cells replaced by
    /// their generalisation (`*` in every QI for suppressed rows).
    pub fn write_csv(
        &self,
        table: &Table,
        path: impl AsRef<Path>,
        sep: u8,
    ) -> Result<(), KanonError> {
        let path = path.as_ref();
        let io = |source| KanonError::Io {
            path: path.display().to_string(),
            source,
        };
        let f = std::fs::File::create(path).map_err(io)?;
        self.write_csv_to(
            table,
            std::io::BufWriter::new(f),
            sep,
            &path.display().to_string(),
        )
    }

    /// Like [`Release::write_csv`], to any writer; `name` is used in error messages.
    pub fn write_csv_to<W: Write>(
        &self,
        table: &Table,
        out: W,
        sep: u8,
        name: &str,
    ) -> Result<(), KanonError> {
        if table.n_rows() != self.class_of_row.len() {
            return Err(KanonError::InvalidConfig(
                "the release belongs to a table of another size".into(),
            ));
        }
        let csv_err = |source| KanonError::Csv {
            path: name.to_string(),
            source,
        };
        let mut w = csv::WriterBuilder::new().delimiter(sep).from_writer(out);
        w.write_record(table.headers()).map_err(csv_err)?;
        let ncol = table.headers().len();
        let mut qi_pos = vec![usize::MAX; ncol];
        for (j, &c) in self.qi_cols.iter().enumerate() {
            qi_pos[c] = j;
        }
        let star = "*";
        let mut rec: Vec<&str> = Vec::with_capacity(ncol);
        for r in 0..table.n_rows() {
            rec.clear();
            let cells = self.generalized(r);
            for (c, &pos) in qi_pos.iter().enumerate() {
                if pos == usize::MAX {
                    rec.push(table.value(r, c));
                } else {
                    rec.push(cells.map_or(star, |g| g[pos].as_str()));
                }
            }
            w.write_record(&rec).map_err(csv_err)?;
        }
        w.flush().map_err(|source| KanonError::Io {
            path: name.to_string(),
            source,
        })
    }
}

/// Per-class summary over its members: (range lo, hi) per range-QI, set of codes per set-QI.
fn class_loss(enc: &Encoded, rows: &[u32]) -> f64 {
    enc.attrs.iter().map(|a| attr_loss(a, rows)).sum()
}

fn attr_loss(a: &Attr, rows: &[u32]) -> f64 {
    if a.range_loss {
        let (mut lo, mut hi) = (u32::MAX, 0);
        for &r in rows {
            let c = a.codes[r as usize];
            lo = lo.min(c);
            hi = hi.max(c);
        }
        if lo >= hi { 0.0 } else { a.loss_range(lo, hi) }
    } else {
        let mut cs: Vec<u32> = rows.iter().map(|&r| a.codes[r as usize]).collect();
        cs.sort_unstable();
        cs.dedup();
        a.loss_distinct(cs.len() as u32)
    }
}

fn sens_ok(enc: &Encoded, l: Option<LDiversity>, rows: &[u32]) -> bool {
    match l {
        None => true,
        Some(l) => {
            let mut cs: Vec<u32> = rows.iter().map(|&r| enc.sens[r as usize]).collect();
            cs.sort_unstable();
            let mut counts = Vec::new();
            let mut i = 0;
            while i < cs.len() {
                let j = cs[i..].partition_point(|&x| x == cs[i]) + i;
                counts.push((j - i) as u32);
                i = j;
            }
            ldiv::exact_ok(l, &counts)
        }
    }
}

/// Greedy outlier suppression within `budget` rows: repeatedly removes the row whose removal
/// lowers the total loss the most (a suppressed row costs 1 per QI). When its class would
/// become too small or lose l-diversity, the rest of the class is merged into a neighbouring
/// class (neighbours in the partition tree's leaf order), if that still lowers the loss.
fn suppress(
    enc: &Encoded,
    cfg: &KanonConfig,
    classes: &mut Vec<Vec<u32>>,
    budget: usize,
) -> Vec<u32> {
    let q = enc.attrs.len() as f64;
    let mut out = Vec::new();
    let mut left = budget;
    let valid = |rows: &[u32]| rows.len() >= cfg.k && sens_ok(enc, cfg.l, rows);
    let cost = |rows: &[u32]| rows.len() as f64 * class_loss(enc, rows);
    while left > 0 {
        let snapshot: &Vec<Vec<u32>> = classes;
        let mut moves: Vec<(f64, usize, usize, Option<usize>)> = snapshot
            .par_iter()
            .enumerate()
            .filter(|(_, c)| !c.is_empty())
            .filter_map(|(ci, c)| {
                let base = cost(c);
                if base <= 1e-12 {
                    return None;
                }
                let mut best: Option<(f64, usize, Option<usize>)> = None;
                let mut rest = Vec::with_capacity(c.len());
                for j in 0..c.len() {
                    rest.clear();
                    rest.extend(
                        c.iter()
                            .enumerate()
                            .filter(|&(i, _)| i != j)
                            .map(|(_, &r)| r),
                    );
                    if valid(&rest) {
                        let gain = base - cost(&rest) - q;
                        if gain > 1e-9 && best.is_none_or(|(g, _, _)| gain > g) {
                            best = Some((gain, j, None));
                        }
                        continue;
                    }
                    for nb in [ci.wrapping_sub(1), ci + 1] {
                        let Some(d) = snapshot.get(nb) else { continue };
                        if d.is_empty() {
                            continue;
                        }
                        let mut merged = d.clone();
                        merged.extend_from_slice(&rest);
                        if !valid(&merged) {
                            continue;
                        }
                        let gain = base + cost(d) - cost(&merged) - q;
                        if gain > 1e-9 && best.is_none_or(|(g, _, _)| gain > g) {
                            best = Some((gain, j, Some(nb)));
                        }
                    }
                }
                best.map(|(g, j, m)| (g, ci, j, m))
            })
            .collect();
        if moves.is_empty() {
            break;
        }
        moves.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut touched = vec![false; classes.len()];
        let mut applied = 0;
        for (_, ci, j, merge) in moves {
            if left == 0 {
                break;
            }
            if touched[ci] || merge.is_some_and(|m| touched[m]) {
                continue;
            }
            touched[ci] = true;
            out.push(classes[ci].swap_remove(j));
            left -= 1;
            applied += 1;
            if let Some(m) = merge {
                touched[m] = true;
                let rest = std::mem::take(&mut classes[ci]);
                classes[m].extend(rest);
            }
        }
        if applied == 0 {
            break;
        }
    }
    classes.retain(|c| !c.is_empty());
    out
}

/// The published cell of `attr` for a class with these rows, and the number of leaves (or
/// distinct values) it covers, for the loss.
fn generalize(a: &Attr, rows: &[u32], recoding: CategoricalRecoding) -> (String, f64) {
    let mut cs: Vec<u32> = rows.iter().map(|&r| a.codes[r as usize]).collect();
    cs.sort_unstable();
    cs.dedup();
    let (lo, hi) = (cs[0], cs[cs.len() - 1]);
    match &a.kind {
        AttrKind::Numeric { labels, .. } => {
            let loss = a.loss_range(lo, hi);
            if lo == hi {
                (labels[lo as usize].clone(), 0.0)
            } else {
                (
                    format!("{}-{}", labels[lo as usize], labels[hi as usize]),
                    loss,
                )
            }
        }
        AttrKind::Categorical { labels, tree } => {
            if cs.len() == 1 && (recoding == CategoricalRecoding::Set || tree.is_none()) {
                return (labels[lo as usize].clone(), 0.0);
            }
            let set = |codes: &mut dyn Iterator<Item = u32>| {
                let mut v: Vec<&str> = codes.map(|c| labels[c as usize].as_str()).collect();
                v.sort_unstable();
                format!("{{{}}}", v.join(","))
            };
            match tree {
                Some(t) => {
                    let node = t.lca(lo, hi);
                    let nd = &t.nodes[node];
                    let exact = (nd.hi - nd.lo + 1) as usize == cs.len();
                    if recoding == CategoricalRecoding::Hierarchy || exact {
                        let loss = a.loss_distinct(nd.hi - nd.lo + 1);
                        let cell = if nd.children.is_empty() {
                            labels[nd.lo as usize].clone()
                        } else if t.publishable(node) {
                            nd.label.clone()
                        } else {
                            set(&mut (nd.lo..=nd.hi))
                        };
                        (cell, loss)
                    } else {
                        (
                            set(&mut cs.iter().copied()),
                            a.loss_distinct(cs.len() as u32),
                        )
                    }
                }
                None => {
                    let loss = a.loss_distinct(cs.len() as u32);
                    if cs.len() == a.d {
                        ("*".into(), loss)
                    } else {
                        (set(&mut cs.iter().copied()), loss)
                    }
                }
            }
        }
    }
}

/// The explicit set spelling of a `*` cell (used when a class would otherwise look suppressed).
fn explicit_all(a: &Attr) -> String {
    match &a.kind {
        AttrKind::Categorical { labels, .. } => {
            let mut v: Vec<&str> = labels.iter().map(String::as_str).collect();
            v.sort_unstable();
            format!("{{{}}}", v.join(","))
        }
        AttrKind::Numeric { labels, .. } => {
            format!("{}-{}", labels[0], labels[labels.len() - 1])
        }
    }
}

pub(crate) fn build(
    table: &Table,
    cfg: &KanonConfig,
    enc: &Encoded,
    rows: Vec<u32>,
    leaves: &[usize],
    t0: Instant,
) -> Result<Release, KanonError> {
    let n = enc.n;
    let mut groups: Vec<Vec<u32>> = Vec::with_capacity(leaves.len());
    let mut at = 0;
    for &len in leaves {
        groups.push(rows[at..at + len].to_vec());
        at += len;
    }
    drop(rows);
    let budget = ((cfg.max_suppress / 100.0) * n as f64).floor() as usize;
    let suppressed_rows = if budget > 0 {
        suppress(enc, cfg, &mut groups, budget)
    } else {
        Vec::new()
    };
    // generalise
    let generalised: Vec<(Vec<String>, Vec<f64>)> = groups
        .par_iter()
        .map(|g| {
            let mut cells = Vec::with_capacity(enc.attrs.len());
            let mut losses = Vec::with_capacity(enc.attrs.len());
            for a in &enc.attrs {
                let (c, l) = generalize(a, g, cfg.recoding);
                cells.push(c);
                losses.push(l);
            }
            if cells.iter().all(|c| c == "*") {
                cells[0] = explicit_all(&enc.attrs[0]);
            }
            (cells, losses)
        })
        .collect();
    // merge classes spelled identically
    let mut index: HashMap<&[String], usize> = HashMap::new();
    let mut classes: Vec<EqClass> = Vec::new();
    let mut members: Vec<Vec<u32>> = Vec::new();
    let mut class_of_row = vec![SUPPRESSED; n];
    let mut loss_sum = vec![0.0f64; enc.attrs.len()];
    for (g, (cells, losses)) in groups.iter().zip(&generalised) {
        let id = *index.entry(cells.as_slice()).or_insert_with(|| {
            classes.push(EqClass {
                values: cells.clone(),
                size: 0,
            });
            members.push(Vec::new());
            classes.len() - 1
        });
        classes[id].size += g.len();
        members[id].extend_from_slice(g);
        for &r in g {
            class_of_row[r as usize] = id as u32;
        }
        for (s, l) in loss_sum.iter_mut().zip(losses) {
            *s += l * g.len() as f64;
        }
    }
    drop(index);
    let suppressed = suppressed_rows.len();
    for s in loss_sum.iter_mut() {
        *s += suppressed as f64;
    }
    // verify the release as a reader would see it
    let mut l_achieved = usize::MAX;
    for (c, m) in classes.iter().zip(&members) {
        if m.len() < cfg.k {
            return Err(KanonError::Internal(format!(
                "class {:?} has {} rows < k",
                c.values,
                m.len()
            )));
        }
        if !sens_ok(enc, cfg.l, m) {
            return Err(KanonError::Internal(format!(
                "class {:?} is not l-diverse",
                c.values
            )));
        }
        let mut s: Vec<u32> = m.iter().map(|&r| enc.sens[r as usize]).collect();
        s.sort_unstable();
        s.dedup();
        l_achieved = l_achieved.min(s.len());
    }
    if suppressed > budget
        || class_of_row.iter().filter(|&&c| c == SUPPRESSED).count() != suppressed
    {
        return Err(KanonError::Internal("row accounting mismatch".into()));
    }
    let q = enc.attrs.len();
    let gcp = 100.0 * loss_sum.iter().sum::<f64>() / (n as f64 * q as f64);
    let dm = members.iter().map(|m| (m.len() as u64).pow(2)).sum::<u64>() + (suppressed * n) as u64;
    let metrics = Metrics {
        records: n,
        qis: cfg.qis.clone(),
        sensitive: cfg.sensitive.clone(),
        k: cfg.k,
        l: cfg.l,
        k_achieved: members.iter().map(Vec::len).min().unwrap_or(0),
        l_achieved: if classes.is_empty() { 0 } else { l_achieved },
        classes: classes.len(),
        suppressed,
        gcp_percent: gcp,
        gcp_per_qi: enc
            .attrs
            .iter()
            .zip(&loss_sum)
            .map(|(a, s)| QiLoss {
                qi: a.name.clone(),
                gcp_percent: 100.0 * s / n as f64,
            })
            .collect(),
        dm,
        c_avg: if classes.is_empty() {
            f64::INFINITY
        } else {
            (n as f64 / classes.len() as f64) / cfg.k as f64
        },
        runtime_ms: t0.elapsed().as_secs_f64() * 1e3,
    };
    let _ = table;
    Ok(Release {
        qi_cols: enc.qi_cols.clone(),
        class_of_row,
        classes,
        members,
        metrics,
    })
}
