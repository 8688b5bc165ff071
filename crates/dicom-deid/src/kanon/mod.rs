//! k-anonymity with l-diversity for tables (CSV header exports, registries, ...).
//!
//! # Algorithm
//!
//! The release is built by *top-down greedy partitioning* in the spirit of multidimensional
//! Mondrian (LeFevre et al., 2006), with four changes that lower the information loss:
//!
//! 1. **Exact-loss cut selection.** Mondrian cuts the widest attribute at its median. Here
//!    the five quasi-identifiers (QIs) with the largest loss in the partition are tried: the partition's records are ordered by that QI
//!    (ties ordered by the QI with the largest remaining loss), one forward and one backward
//!    pass compute, for *every* cut position, the summed loss of all QIs of both sides, and
//!    the cut with the smallest `|left| * loss(left) + |right| * loss(right)` among those whose
//!    sides both hold at least `k` rows and satisfy l-diversity wins. This is `O(n * q^2)` per
//!    partition for `q` QIs, so the loss of the *other* QIs (correlations) steers the cut.
//! 2. **Relaxed cuts** (local recoding): a cut may fall inside a run of equal values, so a
//!    partition of `2k` rows can always be halved; the published ranges of two classes may
//!    then overlap, which is allowed (every class is still homogeneous in its QI cells).
//! 3. **Multi-way categorical splits along hierarchies**: a categorical QI can be split into
//!    the children of the lowest hierarchy node covering the partition's values, or into its
//!    single values; groups too small or not l-diverse are pooled (and the pool merged into
//!    the smallest group if it still fails). They compete on the same exact cost.
//! 4. **Balance guard and sampling**: in partitions of more than `8k` rows each side of a
//!    binary cut must keep a fifth of the rows (so the recursion depth stays logarithmic);
//!    partitions over 4,096 rows choose their cut on a systematic sample and then verify k
//!    and l on all rows (falling back to the exact search). Children are split in parallel
//!    (rayon).
//!
//! Optionally, within a budget of rows (`max_suppress` percent), outliers whose removal
//! lowers the total loss (a suppressed row costs 1 per QI) are suppressed greedily, as long
//! as their class keeps `k` rows and stays l-diverse.
//!
//! Every class is then generalised: a numeric QI becomes `lo-hi` (the min and max of the
//! class), a categorical QI becomes its single value, the hierarchy label whose leaves are
//! exactly the class's values, or the set `{a,b}` of the values (default
//! [`CategoricalRecoding::Set`]); with [`CategoricalRecoding::Hierarchy`] it becomes the
//! lowest common ancestor in its hierarchy. Classes that end up spelled identically are
//! merged, and the final release is re-verified (k and l per published class) before it is
//! returned.
//!
//! The information loss follows `shared/kanon/README.md`: numeric `(max-min)/(domain range)`,
//! categorical `(leaves covered - 1)/(leaves of the hierarchy - 1)` (or distinct values of the
//! column without a hierarchy), suppressed rows 1 for every QI.
//!
//! # Why hand-written
//!
//! No maintained Rust crate implements Mondrian-style k-anonymity, let alone l-diversity,
//! hierarchies or local recoding; the Python tools (anonypy, pyCANON for checking) are
//! orders of magnitude slower and Java's ARX cannot be embedded. The algorithm is small
//! enough to own.

mod encode;
mod hierarchy;
mod ldiv;
mod partition;
mod plot;
mod release;
mod table;

use std::time::Instant;

use serde::Serialize;

pub use hierarchy::{Hierarchies, Hierarchy};
pub use ldiv::LDiversity;
pub use plot::plot_partitions;
pub use release::{EqClass, Metrics, QiLoss, Release};
pub use table::{Column, Table};

/// Errors of the k-anonymisation.
#[derive(Debug, thiserror::Error)]
pub enum KanonError {
    /// A file could not be opened or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Malformed delimited text.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: csv::Error,
    },
    /// A column named in the configuration is not in the table.
    #[error("no column named {0:?} in the table")]
    UnknownColumn(String),
    /// Two columns share a name.
    #[error("the table has two columns named {0:?}")]
    DuplicateColumn(String),
    /// A hierarchy file is malformed.
    #[error("hierarchy {path}: {msg}")]
    Hierarchy {
        /// The file (or column).
        path: String,
        /// What is wrong.
        msg: String,
    },
    /// A value of a QI column is not a leaf of its hierarchy.
    #[error("column {column}: value {value:?} is not a leaf of its hierarchy")]
    ValueNotInHierarchy {
        /// The column.
        column: String,
        /// The value.
        value: String,
    },
    /// Inconsistent or out-of-range parameters.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// No release can satisfy the constraints (e.g. fewer rows than k, or the whole table is
    /// not l-diverse).
    #[error("infeasible: {0}")]
    Infeasible(String),
    /// More rows than the 32-bit row index allows.
    #[error("{0}: too many rows or distinct values (limit 2^32 - 1)")]
    TooLarge(String),
    /// The plot could not be drawn.
    #[error("plot: {0}")]
    Plot(String),
    /// The final verification of the release failed (a bug; please report it).
    #[error("internal error: {0}")]
    Internal(String),
}

impl KanonError {
    /// True for errors caused by the user's arguments or inputs' shape (exit status 2 in the
    /// CLI), false for runtime failures.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            KanonError::UnknownColumn(_)
                | KanonError::DuplicateColumn(_)
                | KanonError::InvalidConfig(_)
                | KanonError::Hierarchy { .. }
                | KanonError::ValueNotInHierarchy { .. }
                | KanonError::Infeasible(_)
        )
    }
}

/// How a categorical QI with a hierarchy is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CategoricalRecoding {
    /// The set of the class's values (written as the hierarchy label when the set is exactly
    /// the leaves of one node): least information loss.
    #[default]
    Set,
    /// The lowest common ancestor of the class's values in the hierarchy (strict hierarchy
    /// generalisation; columns without a hierarchy still publish sets).
    Hierarchy,
}

/// What to anonymise and how.
#[derive(Debug, Clone)]
pub struct KanonConfig {
    /// Minimum class size (k >= 1).
    pub k: usize,
    /// Optional l-diversity of the sensitive column in every class.
    pub l: Option<LDiversity>,
    /// Suppression budget in percent of the rows (0 = no suppression).
    pub max_suppress: f64,
    /// The quasi-identifier columns.
    pub qis: Vec<String>,
    /// The sensitive column.
    pub sensitive: String,
    /// QIs to treat as categorical even though all their values are numbers.
    pub categorical: Vec<String>,
    /// How categorical QIs with a hierarchy are published.
    pub recoding: CategoricalRecoding,
}

impl KanonConfig {
    /// A configuration with k, the QIs and the sensitive column; no l, no suppression.
    pub fn new(k: usize, qis: Vec<String>, sensitive: impl Into<String>) -> Self {
        KanonConfig {
            k,
            l: None,
            max_suppress: 0.0,
            qis,
            sensitive: sensitive.into(),
            categorical: Vec::new(),
            recoding: CategoricalRecoding::Set,
        }
    }

    fn validate(&self) -> Result<(), KanonError> {
        if self.k == 0 {
            return Err(KanonError::InvalidConfig("k must be at least 1".into()));
        }
        if self.qis.is_empty() {
            return Err(KanonError::InvalidConfig("no QI column given".into()));
        }
        if !(0.0..=100.0).contains(&self.max_suppress) {
            return Err(KanonError::InvalidConfig(
                "max_suppress must be a percentage in 0..=100".into(),
            ));
        }
        if let Some(l) = &self.l {
            l.validate().map_err(KanonError::InvalidConfig)?;
        }
        Ok(())
    }
}

/// Anonymises `table`: partitions its rows into classes of at least `k` rows (l-diverse in
/// the sensitive column if asked), generalises the QIs of every class, optionally suppresses
/// outliers, and returns the verified release with its metrics.
pub fn anonymize(
    table: &Table,
    cfg: &KanonConfig,
    hierarchies: &Hierarchies,
) -> Result<Release, KanonError> {
    let t0 = Instant::now();
    cfg.validate()?;
    let enc = encode::encode(table, cfg, hierarchies)?;
    let n = enc.n;
    if n < cfg.k {
        return Err(KanonError::Infeasible(format!(
            "the table has {n} rows, fewer than k = {}",
            cfg.k
        )));
    }
    if let Some(l) = cfg.l {
        let mut counts = vec![0u32; enc.n_sens];
        for &s in &enc.sens {
            counts[s as usize] += 1;
        }
        if !ldiv::exact_ok(l, &counts) {
            return Err(KanonError::Infeasible(format!(
                "the whole table does not satisfy {l:?} in {}",
                cfg.sensitive
            )));
        }
    }
    let params = partition::Params {
        k: cfg.k,
        l: cfg.l,
        relaxed: true,
        multiway: true,
        balance: 0.2,
        balance_min_k: 8,
    };
    let (rows, leaves) = partition::partition(&enc, &params);
    release::build(table, cfg, &enc, rows, &leaves, t0)
}

#[cfg(test)]
mod tests;
