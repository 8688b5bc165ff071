//! The partitioning: greedy top-down splits chosen by exact information loss.

use std::cell::RefCell;

use rayon::prelude::*;

use super::encode::{AttrKind, Encoded};
use super::ldiv::{LDiversity, LState};

/// Partitions larger than this are scored on a systematic sample of this many rows.
const SAMPLE_MAX: usize = 4096;
/// Binary cuts are searched along at most this many QIs per partition (those with the
/// largest loss); the cost of every cut still counts all QIs.
const MAX_CUT_QIS: usize = 5;
/// Partitions at least this large split their children in parallel.
const PAR_MIN: usize = 2_048;

/// Tuning of the partitioning (the defaults are what [`super::anonymize`] uses).
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub k: usize,
    pub l: Option<LDiversity>,
    /// Allow cuts inside a run of equal values (local recoding).
    pub relaxed: bool,
    /// Consider multi-way splits of categorical QIs (hierarchy children, single values).
    pub multiway: bool,
    /// In partitions of more than `balance_min_k * k` rows, each side of a binary cut
    /// must hold at least this fraction of the rows.
    pub balance: f64,
    pub balance_min_k: usize,
}

pub(crate) struct Ctx<'a> {
    enc: &'a Encoded,
    p: &'a Params,
    q: usize,
    w: usize,
}

/// A chosen split: the new order of the partition's records and the cut positions.
struct Split {
    cost: f64,
    /// The QI the records are ordered by (binary cuts only).
    attr: Option<usize>,
    perm: Vec<u32>,
    cuts: Vec<usize>,
}

thread_local! {
    static SCRATCH: RefCell<Vec<Vec<u32>>> = const { RefCell::new(Vec::new()) };
}

/// Runs the partitioning; returns the row ids in leaf order and the leaf sizes.
pub(crate) fn partition(enc: &Encoded, p: &Params) -> (Vec<u32>, Vec<usize>) {
    let q = enc.attrs.len();
    let w = q + 2;
    let n = enc.n;
    let mut recs = vec![0u32; n * w];
    recs.par_chunks_mut(w).enumerate().for_each(|(i, r)| {
        for (a, attr) in enc.attrs.iter().enumerate() {
            r[a] = attr.codes[i];
        }
        r[q] = enc.sens[i];
        r[q + 1] = i as u32;
    });
    let ctx = Ctx { enc, p, q, w };
    let leaves = node(&ctx, &mut recs);

    let rows = recs.chunks_exact(w).map(|r| r[q + 1]).collect();
    (rows, leaves)
}

fn node(ctx: &Ctx, recs: &mut [u32]) -> Vec<usize> {
    let n = recs.len() / ctx.w;
    if n < 2 * ctx.p.k.max(1) {
        return vec![n];
    }
    let split = if n > SAMPLE_MAX {
        best_split_sampled(ctx, recs).or_else(|| best_split(ctx, recs, ctx.p.k, ctx.p.multiway))
    } else {
        best_split(ctx, recs, ctx.p.k, ctx.p.multiway)
    };
    let Some(split) = split else {
        return vec![n];
    };
    apply(ctx, recs, &split.perm);
    let mut parts: Vec<&mut [u32]> = Vec::with_capacity(split.cuts.len() + 1);
    let mut rest = recs;
    let mut prev = 0;
    for &c in &split.cuts {
        let (a, b) = rest.split_at_mut((c - prev) * ctx.w);
        parts.push(a);
        rest = b;
        prev = c;
    }
    parts.push(rest);
    if n >= PAR_MIN {
        if parts.len() == 2 {
            let mut it = parts.into_iter();
            let (a, b) = (it.next().unwrap_or_default(), it.next().unwrap_or_default());
            let (mut x, y) = rayon::join(|| node(ctx, a), || node(ctx, b));
            x.extend(y);
            x
        } else {
            parts
                .into_par_iter()
                .map(|p| node(ctx, p))
                .collect::<Vec<_>>()
                .concat()
        }
    } else {
        parts.into_iter().flat_map(|p| node(ctx, p)).collect()
    }
}

fn apply(ctx: &Ctx, recs: &mut [u32], perm: &[u32]) {
    let w = ctx.w;
    let mut tmp = Vec::with_capacity(recs.len());
    for &i in perm {
        let i = i as usize;
        tmp.extend_from_slice(&recs[i * w..(i + 1) * w]);
    }
    recs.copy_from_slice(&tmp);
}

#[inline]
fn code(ctx: &Ctx, recs: &[u32], i: usize, a: usize) -> u32 {
    recs[i * ctx.w + a]
}

/// Per-attribute loss of a whole partition, and whether the attribute still varies.
fn summary(ctx: &Ctx, recs: &[u32]) -> Vec<(f64, bool)> {
    let n = recs.len() / ctx.w;
    let mut out = Vec::with_capacity(ctx.q);
    for (a, attr) in ctx.enc.attrs.iter().enumerate() {
        let (mut lo, mut hi) = (u32::MAX, 0);
        for i in 0..n {
            let c = code(ctx, recs, i, a);
            lo = lo.min(c);
            hi = hi.max(c);
        }
        let varies = lo < hi;
        let loss = if !varies {
            0.0
        } else if attr.range_loss {
            attr.loss_range(lo, hi)
        } else {
            with_counts(a, attr.d, |cnt| {
                let mut d = 0;
                for i in 0..n {
                    let c = code(ctx, recs, i, a) as usize;
                    if cnt[c] == 0 {
                        d += 1;
                    }
                    cnt[c] += 1;
                }
                for i in 0..n {
                    cnt[code(ctx, recs, i, a) as usize] = 0;
                }
                attr.loss_distinct(d)
            })
        };
        out.push((loss, varies));
    }
    out
}

/// Runs `f` with a zeroed count array of length `d` for attribute slot `a` (thread-local,
/// must be returned zeroed).
fn with_counts<R>(a: usize, d: usize, f: impl FnOnce(&mut [u32]) -> R) -> R {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() <= a {
            s.resize_with(a + 1, Vec::new);
        }
        if s[a].len() < d {
            s[a].resize(d, 0);
        }
        f(&mut s[a][..d])
    })
}

/// Record indices of the partition sorted by (attribute `a`, then attribute `sec`).
fn order_by(ctx: &Ctx, recs: &[u32], a: usize, sec: Option<usize>) -> Vec<u32> {
    let n = recs.len() / ctx.w;
    let da = ctx.enc.attrs[a].d;
    let mut idx: Vec<u32> = (0..n as u32).collect();
    let counting = |idx: Vec<u32>, key: usize, d: usize| -> Vec<u32> {
        let mut starts = vec![0usize; d + 1];
        for &i in &idx {
            starts[code(ctx, recs, i as usize, key) as usize + 1] += 1;
        }
        for j in 0..d {
            starts[j + 1] += starts[j];
        }
        let mut out = vec![0u32; idx.len()];
        for &i in &idx {
            let c = code(ctx, recs, i as usize, key) as usize;
            out[starts[c]] = i;
            starts[c] += 1;
        }
        out
    };
    let small = |d: usize| d <= 2 * n + 64;
    match sec {
        Some(s) if small(da) && small(ctx.enc.attrs[s].d) => {
            idx = counting(idx, s, ctx.enc.attrs[s].d);
            counting(idx, a, da)
        }
        None if small(da) => counting(idx, a, da),
        _ => {
            idx.sort_unstable_by_key(|&i| {
                let i = i as usize;
                let s = sec.map_or(0, |s| code(ctx, recs, i, s));
                ((code(ctx, recs, i, a) as u64) << 32 | s as u64, i)
            });
            idx
        }
    }
}

/// Prefix losses: `out[p]` = summed loss of the first `p` records of `order` over the
/// `active` QIs (those that vary in the partition), `ok[p]` = whether they satisfy
/// l-diversity. With `rev`, the same for the suffixes (`out[p]` = records `p..`).
fn prefix_losses(
    ctx: &Ctx,
    recs: &[u32],
    order: &[u32],
    active: &[usize],
    rev: bool,
) -> (Vec<f64>, Vec<bool>) {
    let n = order.len();
    let w = ctx.w;
    let mut out = vec![0.0f64; n + 1];
    let mut ok = vec![true; n + 1];
    let ranged: Vec<usize> = active
        .iter()
        .copied()
        .filter(|&a| ctx.enc.attrs[a].range_loss)
        .collect();
    let sets: Vec<usize> = active
        .iter()
        .copied()
        .filter(|&a| !ctx.enc.attrs[a].range_loss)
        .collect();
    let mut lo = vec![u32::MAX; ranged.len()];
    let mut hi = vec![0u32; ranged.len()];
    let mut cur_r = vec![0.0f64; ranged.len()];
    let mut dist = vec![0u32; sets.len()];
    let mut lst = ctx.p.l.map(|l| LState::new(ctx.enc.n_sens, l));
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < ctx.q {
            s.resize_with(ctx.q, Vec::new);
        }
        for &a in &sets {
            if s[a].len() < ctx.enc.attrs[a].d {
                s[a].resize(ctx.enc.attrs[a].d, 0);
            }
        }
        let mut total = 0.0;
        for step in 0..n {
            let i = if rev {
                order[n - 1 - step]
            } else {
                order[step]
            } as usize;
            let rec = &recs[i * w..(i + 1) * w];
            for (j, &a) in ranged.iter().enumerate() {
                let c = rec[a];
                if c < lo[j] || c > hi[j] {
                    lo[j] = lo[j].min(c);
                    hi[j] = hi[j].max(c);
                    if lo[j] < hi[j] {
                        let nl = ctx.enc.attrs[a].loss_range(lo[j], hi[j]);
                        total += nl - cur_r[j];
                        cur_r[j] = nl;
                    }
                }
            }
            for (j, &a) in sets.iter().enumerate() {
                let cnt = &mut s[a][rec[a] as usize];
                *cnt += 1;
                if *cnt == 1 {
                    dist[j] += 1;
                    if dist[j] > 1 {
                        total += ctx.enc.attrs[a].loss_distinct(dist[j])
                            - ctx.enc.attrs[a].loss_distinct(dist[j] - 1);
                    }
                }
            }
            let p = if rev { n - 1 - step } else { step + 1 };
            out[p] = total;
            if let Some(st) = lst.as_mut() {
                st.add(rec[ctx.q]);
                ok[p] = st.ok();
            }
        }
        if rev {
            out[n] = 0.0;
            ok[n] = lst.is_none();
        } else {
            ok[0] = lst.is_none();
        }
        // undo the counts
        for &i in order {
            let rec = &recs[i as usize * w..(i as usize + 1) * w];
            for &a in &sets {
                s[a][rec[a] as usize] = 0;
            }
        }
    });
    (out, ok)
}

/// Finds the lowest-cost binary cut along each QI (and the multi-way splits when enabled).
fn best_split(ctx: &Ctx, recs: &[u32], kk: usize, multi: bool) -> Option<Split> {
    let n = recs.len() / ctx.w;
    if n < 2 * kk {
        return None;
    }
    let summ = summary(ctx, recs);
    // secondary sort key: the other varying attribute with the largest loss
    let active: Vec<usize> = (0..ctx.q).filter(|&a| summ[a].1).collect();
    // cut along the QIs that lose the most (all of them when there are few)
    let mut cands = active.clone();
    cands.sort_by(|&x, &y| summ[y].0.total_cmp(&summ[x].0));
    cands.truncate(MAX_CUT_QIS);
    let eval = |a: usize| -> Vec<Split> {
        let sec = active
            .iter()
            .copied()
            .filter(|&b| b != a)
            .max_by(|&x, &y| summ[x].0.total_cmp(&summ[y].0));
        let mut res = Vec::new();
        if let Some(s) = binary_cut(ctx, recs, a, sec, &active, kk) {
            res.push(s);
        }
        if multi && !ctx.enc.attrs[a].is_numeric() {
            res.extend(multiway(ctx, recs, a, kk));
        }
        res
    };
    let all: Vec<Split> = if n >= PAR_MIN {
        cands.par_iter().flat_map_iter(|&a| eval(a)).collect()
    } else {
        cands.iter().flat_map(|&a| eval(a)).collect()
    };
    // score: loss reduction per extra part, so that a k-way split competes fairly with a cut
    let parent: f64 = n as f64 * summ.iter().map(|x| x.0).sum::<f64>();
    let score = |s: &Split| (parent - s.cost) / s.cuts.len() as f64;
    all.into_iter().max_by(|x, y| score(x).total_cmp(&score(y)))
}

fn binary_cut(
    ctx: &Ctx,
    recs: &[u32],
    a: usize,
    sec: Option<usize>,
    active: &[usize],
    kk: usize,
) -> Option<Split> {
    let n = recs.len() / ctx.w;
    let order = order_by(ctx, recs, a, sec);
    let (pre, okp) = prefix_losses(ctx, recs, &order, active, false);
    let (suf, oks) = prefix_losses(ctx, recs, &order, active, true);
    let (mut from, mut to) = (kk, n - kk);
    if n > ctx.p.balance_min_k * ctx.p.k && ctx.p.balance > 0.0 {
        let b = (ctx.p.balance * n as f64).floor() as usize;
        from = from.max(b);
        to = to.min(n.saturating_sub(b));
    }
    let mut best: Option<(f64, usize)> = None;
    for p in from..=to {
        if !(okp[p] && oks[p]) {
            continue;
        }
        if !ctx.p.relaxed
            && code(ctx, recs, order[p - 1] as usize, a) == code(ctx, recs, order[p] as usize, a)
        {
            continue;
        }
        let cost = p as f64 * pre[p] + (n - p) as f64 * suf[p];
        let better = match best {
            None => true,
            Some((bc, bp)) => {
                cost < bc - 1e-9 || (cost <= bc + 1e-9 && p.abs_diff(n / 2) < bp.abs_diff(n / 2))
            }
        };
        if better {
            best = Some((cost, p));
        }
    }
    let (cost, p) = best?;
    Some(Split {
        cost,
        attr: Some(a),
        perm: order,
        cuts: vec![p],
    })
}

/// Multi-way splits of a categorical QI: by the children of the lowest common hierarchy node
/// of the partition's values, and by single values; groups too small (or not l-diverse) are
/// pooled.
fn multiway(ctx: &Ctx, recs: &[u32], a: usize, kk: usize) -> Vec<Split> {
    let n = recs.len() / ctx.w;
    let attr = &ctx.enc.attrs[a];
    let d = attr.d;
    let mut counts = vec![0usize; d];
    let (mut lo, mut hi) = (u32::MAX, 0u32);
    for i in 0..n {
        let c = code(ctx, recs, i, a);
        counts[c as usize] += 1;
        lo = lo.min(c);
        hi = hi.max(c);
    }
    let mut groupings: Vec<Vec<u32>> = Vec::new(); // code -> group
    if let AttrKind::Categorical { tree: Some(t), .. } = &attr.kind {
        let top = t.lca(lo, hi);
        let ch = &t.nodes[top].children;
        if ch.len() > 2 {
            let mut g = vec![0u32; d];
            for (j, &c) in ch.iter().enumerate() {
                for x in t.nodes[c].lo..=t.nodes[c].hi {
                    g[x as usize] = j as u32;
                }
            }
            groupings.push(g);
        }
    }
    let present = counts.iter().filter(|&&c| c > 0).count();
    if present > 2 {
        groupings.push((0..d as u32).collect());
    }
    let mut out = Vec::new();
    for g in groupings {
        if let Some(s) = grouped_split(ctx, recs, a, &g, kk) {
            out.push(s);
        }
    }
    out
}

fn grouped_split(ctx: &Ctx, recs: &[u32], a: usize, g: &[u32], kk: usize) -> Option<Split> {
    let n = recs.len() / ctx.w;
    let ng = g.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut gid: Vec<u32> = (0..n).map(|i| g[code(ctx, recs, i, a) as usize]).collect();
    let feasible = |gid: &[u32], ng: usize| -> Vec<bool> {
        let mut size = vec![0usize; ng];
        let mut st: Vec<Option<LState>> = (0..ng)
            .map(|_| ctx.p.l.map(|l| LState::new(ctx.enc.n_sens, l)))
            .collect();
        for (i, &x) in gid.iter().enumerate() {
            let x = x as usize;
            size[x] += 1;
            if let Some(s) = st[x].as_mut() {
                s.add(code(ctx, recs, i, ctx.q));
            }
        }
        (0..ng)
            .map(|x| size[x] == 0 || (size[x] >= kk && st[x].as_mut().is_none_or(|s| s.ok())))
            .collect()
    };
    let ok = feasible(&gid, ng);
    let sizes = {
        let mut s = vec![0usize; ng];
        for &x in &gid {
            s[x as usize] += 1;
        }
        s
    };
    // pool the infeasible groups into one
    let pool = ng as u32;
    let mut any_bad = false;
    for x in gid.iter_mut() {
        if !ok[*x as usize] {
            *x = pool;
            any_bad = true;
        }
    }
    let mut ng2 = ng + 1;
    if any_bad && !feasible(&gid, ng2)[pool as usize] {
        // merge the pool into the smallest feasible non-empty group
        let target = (0..ng)
            .filter(|&x| ok[x] && sizes[x] > 0)
            .min_by_key(|&x| sizes[x])?;
        for x in gid.iter_mut() {
            if *x == pool {
                *x = target as u32;
            }
        }
        ng2 = ng;
        // a pooled group may still spoil entropy / recursive diversity of its host
        if !feasible(&gid, ng2)[target] {
            return None;
        }
    }
    // counting sort by group
    let mut starts = vec![0usize; ng2 + 1];
    for &x in &gid {
        starts[x as usize + 1] += 1;
    }
    let nonempty = starts.iter().skip(1).filter(|&&c| c > 0).count();
    if nonempty < 2 {
        return None;
    }
    for j in 0..ng2 {
        starts[j + 1] += starts[j];
    }
    let bounds = starts.clone();
    let mut perm = vec![0u32; n];
    for (i, &x) in gid.iter().enumerate() {
        perm[starts[x as usize]] = i as u32;
        starts[x as usize] += 1;
    }
    let mut cuts: Vec<usize> = bounds[1..ng2]
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < n)
        .collect();
    cuts.dedup();
    // cost: sum over groups of size * loss
    let mut cost = 0.0;
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&n)) {
        let (pre, _) = prefix_losses_noldiv(ctx, recs, &perm[prev..c]);
        cost += (c - prev) as f64 * pre;
        prev = c;
    }
    Some(Split {
        cost,
        attr: None,
        perm,
        cuts,
    })
}

fn prefix_losses_noldiv(ctx: &Ctx, recs: &[u32], order: &[u32]) -> (f64, ()) {
    let mut total = 0.0;
    for (a, attr) in ctx.enc.attrs.iter().enumerate() {
        if attr.range_loss {
            let (mut lo, mut hi) = (u32::MAX, 0);
            for &i in order {
                let c = code(ctx, recs, i as usize, a);
                lo = lo.min(c);
                hi = hi.max(c);
            }
            if lo < hi {
                total += attr.loss_range(lo, hi);
            }
        } else {
            total += with_counts(a, attr.d, |cnt| {
                let mut d = 0;
                for &i in order {
                    let c = code(ctx, recs, i as usize, a) as usize;
                    if cnt[c] == 0 {
                        d += 1;
                    }
                    cnt[c] += 1;
                }
                for &i in order {
                    cnt[code(ctx, recs, i as usize, a) as usize] = 0;
                }
                attr.loss_distinct(d)
            });
        }
    }
    (total, ())
}

/// For large partitions: choose the split on a systematic sample, then apply its threshold
/// to all rows and verify k and l exactly.
fn best_split_sampled(ctx: &Ctx, recs: &[u32]) -> Option<Split> {
    let n = recs.len() / ctx.w;
    let w = ctx.w;
    let m = SAMPLE_MAX;
    let mut sample = Vec::with_capacity(m * w);
    for j in 0..m {
        let i = j * n / m;
        sample.extend_from_slice(&recs[i * w..(i + 1) * w]);
    }
    let ks = ((ctx.p.k * m).div_ceil(n)).max(1);
    let s = best_split(ctx, &sample, ks, false)?;
    let a = s.attr?;
    let sorted: Vec<&[u32]> = s
        .perm
        .iter()
        .map(|&i| &sample[i as usize * w..(i as usize + 1) * w])
        .collect();
    let summ = summary(ctx, recs);
    let sec = (0..ctx.q)
        .filter(|&b| b != a && summ[b].1)
        .max_by(|&x, &y| summ[x].0.total_cmp(&summ[y].0));
    let order = order_by(ctx, recs, a, sec);
    let mut cuts = Vec::new();
    for &c in &s.cuts {
        // position in the full order proportional to the sample position, within the code run
        let t = sorted[c][a];
        let left_in_t = (0..c).filter(|&j| sorted[j][a] == t).count();
        let tot_in_t = sorted.iter().filter(|r| r[a] == t).count().max(1);
        let below = order.partition_point(|&i| code(ctx, recs, i as usize, a) < t);
        let run = order[below..].partition_point(|&i| code(ctx, recs, i as usize, a) == t);
        let pos = below + (run * left_in_t + tot_in_t / 2) / tot_in_t;
        cuts.push(pos);
    }
    cuts.sort_unstable();
    cuts.dedup();
    // verify k and l exactly
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&n)) {
        if c - prev < ctx.p.k {
            return None;
        }
        if let Some(l) = ctx.p.l {
            let mut st = LState::new(ctx.enc.n_sens, l);
            for &i in &order[prev..c] {
                st.add(code(ctx, recs, i as usize, ctx.q));
            }
            if !st.ok() {
                return None;
            }
        }
        prev = c;
    }
    if cuts.is_empty() || cuts[0] == 0 {
        return None;
    }
    Some(Split {
        cost: 0.0,
        attr: Some(a),
        perm: order,
        cuts,
    })
}
