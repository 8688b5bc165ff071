//! l-diversity kinds and an incremental checker of a sensitive-value histogram.

use serde::Serialize;

/// Which l-diversity a release must satisfy in every equivalence class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum LDiversity {
    /// At least `l` distinct sensitive values per class.
    Distinct {
        /// Required number of distinct values.
        l: usize,
    },
    /// Entropy of the sensitive values of each class at least `ln(l)`.
    Entropy {
        /// Required effective number of values (may be fractional).
        l: f64,
    },
    /// Recursive (c,l)-diversity: with class counts sorted r1 >= r2 >= ... >= rm,
    /// r1 < c * (rl + ... + rm).
    Recursive {
        /// The constant c (> 0).
        c: f64,
        /// The l (>= 1).
        l: usize,
    },
}

impl LDiversity {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            LDiversity::Distinct { l: 0 } => Err("l must be at least 1".into()),
            LDiversity::Entropy { l } if !(l >= 1.0 && l.is_finite()) => {
                Err("entropy l must be a finite number >= 1".into())
            }
            LDiversity::Recursive { c, l } if l == 0 || !(c > 0.0 && c.is_finite()) => {
                Err("recursive (c,l)-diversity needs l >= 1 and a finite c > 0".into())
            }
            _ => Ok(()),
        }
    }

    /// The minimum number of distinct sensitive values a class needs (a cheap necessary
    /// condition used to prune).
    pub fn min_distinct(&self) -> usize {
        match *self {
            LDiversity::Distinct { l } => l,
            LDiversity::Entropy { l } => l.ceil() as usize,
            LDiversity::Recursive { l, .. } => l,
        }
    }

    /// Whether a class with these sensitive-value counts (zeros allowed) satisfies it.
    pub fn satisfied_by(&self, counts: &[u32]) -> bool {
        let mut st = LState::new(counts.len(), *self);
        for (s, &c) in counts.iter().enumerate() {
            for _ in 0..c {
                st.add(s as u32);
            }
        }
        st.ok()
    }
}

#[inline]
fn xlogx(c: u32) -> f64 {
    if c <= 1 {
        0.0
    } else {
        let c = c as f64;
        c * c.ln()
    }
}

/// Incremental histogram of sensitive values with an l-diversity test.
#[derive(Debug, Clone)]
pub(crate) struct LState {
    kind: LDiversity,
    counts: Vec<u32>,
    total: u32,
    distinct: u32,
    slogs: f64,
    scratch: Vec<u32>,
}

impl LState {
    pub fn new(n_sens: usize, kind: LDiversity) -> Self {
        LState {
            kind,
            counts: vec![0; n_sens],
            total: 0,
            distinct: 0,
            slogs: 0.0,
            scratch: Vec::new(),
        }
    }

    #[inline]
    pub fn add(&mut self, s: u32) {
        let c = &mut self.counts[s as usize];
        if matches!(self.kind, LDiversity::Entropy { .. }) {
            self.slogs += xlogx(*c + 1) - xlogx(*c);
        }
        if *c == 0 {
            self.distinct += 1;
        }
        *c += 1;
        self.total += 1;
    }

    pub fn ok(&mut self) -> bool {
        match self.kind {
            LDiversity::Distinct { l } => self.distinct as usize >= l,
            LDiversity::Entropy { l } => {
                if (self.distinct as f64) < l {
                    return false;
                }
                let t = self.total as f64;
                let h = t.ln() - self.slogs / t;
                h >= l.ln() - 1e-9
            }
            LDiversity::Recursive { c, l } => {
                if (self.distinct as usize) < l {
                    return false;
                }
                if l == 1 {
                    return true;
                }
                self.scratch.clear();
                self.scratch
                    .extend(self.counts.iter().copied().filter(|&x| x > 0));
                self.scratch.sort_unstable_by(|a, b| b.cmp(a));
                let tail: u64 = self.scratch[l - 1..].iter().map(|&x| x as u64).sum();
                (self.scratch[0] as f64) < c * tail as f64
            }
        }
    }
}

/// Exact entropy test used by the final verification (no incremental drift).
pub(crate) fn exact_ok(kind: LDiversity, counts: &[u32]) -> bool {
    match kind {
        LDiversity::Entropy { l } => {
            let t: f64 = counts.iter().map(|&c| c as f64).sum();
            if t == 0.0 {
                return false;
            }
            let h: f64 = counts
                .iter()
                .filter(|&&c| c > 0)
                .map(|&c| {
                    let p = c as f64 / t;
                    -p * p.ln()
                })
                .sum();
            h >= l.ln() - 1e-9
        }
        _ => kind.satisfied_by(counts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let d = LDiversity::Distinct { l: 2 };
        assert!(d.satisfied_by(&[1, 1, 0]));
        assert!(!d.satisfied_by(&[5, 0]));
        let e = LDiversity::Entropy { l: 2.0 };
        assert!(e.satisfied_by(&[3, 3]));
        assert!(!e.satisfied_by(&[9, 1]));
        let r = LDiversity::Recursive { c: 2.0, l: 2 };
        assert!(r.satisfied_by(&[3, 2])); // 3 < 2*2
        assert!(!r.satisfied_by(&[5, 2])); // 5 >= 4
        assert!(exact_ok(e, &[3, 3]));
    }

    #[test]
    fn incremental_matches() {
        let mut st = LState::new(3, LDiversity::Entropy { l: 1.5 });
        for s in [0, 0, 1, 2, 2, 0] {
            st.add(s);
        }
        let ok = st.ok();
        assert_eq!(ok, exact_ok(LDiversity::Entropy { l: 1.5 }, &[3, 1, 2]));
    }
}
