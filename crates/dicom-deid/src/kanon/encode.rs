//! Encoding of the quasi-identifiers as small integer codes with a loss function each.

use super::hierarchy::Tree;
use super::table::{Table, is_number};
use super::{CategoricalRecoding, Hierarchies, KanonConfig, KanonError};

/// How a QI is generalised and scored.
#[derive(Debug)]
pub(crate) enum AttrKind {
    /// Codes are ranks of the distinct numeric values; published as `lo-hi`.
    Numeric {
        /// Distinct values, ascending.
        values: Vec<f64>,
        /// The original spelling of each distinct value.
        labels: Vec<String>,
    },
    /// Codes are leaf indices (DFS order of the hierarchy, or sorted distinct values).
    Categorical {
        /// Label per code.
        labels: Vec<String>,
        /// The hierarchy tree, if one was given.
        tree: Option<Tree>,
    },
}

/// One encoded QI.
#[derive(Debug)]
pub(crate) struct Attr {
    pub name: String,
    pub codes: Vec<u32>,
    /// Number of codes (for a hierarchy: all its leaves, present in the data or not).
    pub d: usize,
    pub kind: AttrKind,
    /// True: the loss depends on the min and max code only (numeric, or hierarchy recoding).
    /// False: it depends on the number of distinct codes (value sets).
    pub range_loss: bool,
    denom: f64,
}

impl Attr {
    /// Loss of a class whose codes span `lo..=hi` (range-loss attributes).
    #[inline]
    pub fn loss_range(&self, lo: u32, hi: u32) -> f64 {
        if self.denom <= 0.0 {
            return 0.0;
        }
        match &self.kind {
            AttrKind::Numeric { values, .. } => {
                (values[hi as usize] - values[lo as usize]) / self.denom
            }
            AttrKind::Categorical { tree: Some(t), .. } => {
                if lo == hi {
                    return 0.0;
                }
                let n = &t.nodes[t.lca(lo, hi)];
                (n.hi - n.lo) as f64 / self.denom
            }
            AttrKind::Categorical { tree: None, .. } => (hi - lo) as f64 / self.denom,
        }
    }

    /// Loss of a class holding `distinct` different codes (set-loss attributes).
    #[inline]
    pub fn loss_distinct(&self, distinct: u32) -> f64 {
        if self.denom <= 0.0 || distinct == 0 {
            0.0
        } else {
            (distinct - 1) as f64 / self.denom
        }
    }

    pub fn is_numeric(&self) -> bool {
        matches!(self.kind, AttrKind::Numeric { .. })
    }
}

/// The encoded QIs and sensitive attribute of a table.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub attrs: Vec<Attr>,
    pub sens: Vec<u32>,
    pub n_sens: usize,
    pub qi_cols: Vec<usize>,
    pub n: usize,
}

pub(crate) fn encode(
    table: &Table,
    cfg: &KanonConfig,
    hier: &Hierarchies,
) -> Result<Encoded, KanonError> {
    let n = table.n_rows();
    let mut qi_cols = Vec::new();
    for q in &cfg.qis {
        let c = table.column_index(q)?;
        if qi_cols.contains(&c) {
            return Err(KanonError::InvalidConfig(format!("QI {q} given twice")));
        }
        qi_cols.push(c);
    }
    for c in hier.columns() {
        if !cfg.qis.iter().any(|q| q == c) {
            return Err(KanonError::InvalidConfig(format!(
                "hierarchy given for {c}, which is not a QI"
            )));
        }
    }
    let sc = table.column_index(&cfg.sensitive)?;
    if qi_cols.contains(&sc) {
        return Err(KanonError::InvalidConfig(format!(
            "the sensitive column {} is also a QI",
            cfg.sensitive
        )));
    }
    let scol = table.column(sc);
    let sens = scol.codes.clone();
    let n_sens = scol.dict.len();

    let mut attrs = Vec::new();
    for (q, &c) in cfg.qis.iter().zip(&qi_cols) {
        let col = table.column(c);
        let forced_cat = cfg.categorical.iter().any(|x| x == q);
        // map: dictionary code -> attribute code
        let (map, d, kind, range_loss, denom): (Vec<u32>, usize, AttrKind, bool, f64) =
            if let Some(h) = hier.get(q) {
                let tree = h.tree().map_err(|msg| KanonError::Hierarchy {
                    path: q.clone(),
                    msg,
                })?;
                let mut map = Vec::with_capacity(col.dict.len());
                for v in &col.dict {
                    let key = v.trim();
                    match tree.leaf_index.get(key) {
                        Some(&i) => map.push(i),
                        None => {
                            return Err(KanonError::ValueNotInHierarchy {
                                column: q.clone(),
                                value: v.clone(),
                            });
                        }
                    }
                }
                let labels = tree
                    .leaf_node
                    .iter()
                    .map(|&id| tree.nodes[id].label.clone())
                    .collect::<Vec<_>>();
                let d = tree.n_leaves();
                let range = cfg.recoding == CategoricalRecoding::Hierarchy;
                (
                    map,
                    d,
                    AttrKind::Categorical {
                        labels,
                        tree: Some(tree),
                    },
                    range,
                    d.saturating_sub(1) as f64,
                )
            } else if !forced_cat && !col.dict.is_empty() && col.dict.iter().all(|v| is_number(v)) {
                let mut vals: Vec<(f64, usize)> = col
                    .dict
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v.trim().parse::<f64>().unwrap_or(0.0), i))
                    .collect();
                vals.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let mut values: Vec<f64> = Vec::new();
                let mut labels: Vec<String> = Vec::new();
                let mut map = vec![0u32; col.dict.len()];
                for (x, i) in vals {
                    if values.last() != Some(&x) {
                        values.push(x);
                        labels.push(col.dict[i].trim().to_string());
                    }
                    map[i] = (values.len() - 1) as u32;
                }
                let d = values.len();
                let denom = values[d - 1] - values[0];
                (map, d, AttrKind::Numeric { values, labels }, true, denom)
            } else {
                let mut order: Vec<usize> = (0..col.dict.len()).collect();
                order.sort_by(|&a, &b| col.dict[a].trim().cmp(col.dict[b].trim()));
                let mut labels: Vec<String> = Vec::new();
                let mut map = vec![0u32; col.dict.len()];
                for i in order {
                    let v = col.dict[i].trim();
                    if labels.last().map(String::as_str) != Some(v) {
                        labels.push(v.to_string());
                    }
                    map[i] = (labels.len() - 1) as u32;
                }
                let d = labels.len();
                (
                    map,
                    d,
                    AttrKind::Categorical { labels, tree: None },
                    false,
                    d.saturating_sub(1) as f64,
                )
            };
        let codes = col.codes.iter().map(|&x| map[x as usize]).collect();
        attrs.push(Attr {
            name: q.clone(),
            codes,
            d,
            kind,
            range_loss,
            denom,
        });
    }
    Ok(Encoded {
        attrs,
        sens,
        n_sens,
        qi_cols,
        n,
    })
}
