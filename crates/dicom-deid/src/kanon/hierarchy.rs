//! Generalisation hierarchies (ARX format) and their tree form.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use super::KanonError;

/// A generalisation hierarchy of one categorical column, in the ARX file format: one line per
/// leaf value, `;`-separated (configurable), most specific first, the root (usually `*`) last.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    /// One path per leaf: `[leaf, parent, grandparent, ..., root]`.
    rows: Vec<Vec<String>>,
}

impl Hierarchy {
    /// Reads a hierarchy file (no header row; `sep` is the field separator).
    pub fn from_csv_path(path: impl AsRef<Path>, sep: u8) -> Result<Hierarchy, KanonError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|source| KanonError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_reader(file, sep, &path.display().to_string())
    }

    /// Reads a hierarchy from any reader; `name` is used in error messages.
    pub fn from_reader<R: Read>(reader: R, sep: u8, name: &str) -> Result<Hierarchy, KanonError> {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(sep)
            .has_headers(false)
            .flexible(true)
            .from_reader(reader);
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|source| KanonError::Csv {
                path: name.to_string(),
                source,
            })?;
            let row: Vec<String> = rec.iter().map(|f| f.trim().to_string()).collect();
            if row.iter().all(|f| f.is_empty()) {
                continue;
            }
            rows.push(row);
        }
        Self::from_rows(rows).map_err(|msg| KanonError::Hierarchy {
            path: name.to_string(),
            msg,
        })
    }

    /// Builds a hierarchy from its rows (`[leaf, parent, ..., root]` each).
    pub fn from_rows(rows: Vec<Vec<String>>) -> Result<Hierarchy, String> {
        if rows.is_empty() {
            return Err("the hierarchy has no rows".into());
        }
        let mut seen = HashSet::new();
        for r in &rows {
            if r.is_empty() || r[0].is_empty() {
                return Err("a hierarchy row has an empty leaf".into());
            }
            if !seen.insert(r[0].as_str()) {
                return Err(format!("leaf {:?} is listed twice", r[0]));
            }
        }
        let h = Hierarchy { rows };
        h.tree()?; // validate the shape once
        Ok(h)
    }

    /// The leaf values, in file order.
    pub fn leaves(&self) -> impl Iterator<Item = &str> {
        self.rows.iter().map(|r| r[0].as_str())
    }

    /// Number of leaves (the denominator of the hierarchy loss is this minus one).
    pub fn n_leaves(&self) -> usize {
        self.rows.len()
    }

    /// True when `label` names the leaf itself or one of its ancestors.
    pub fn covers(&self, label: &str, leaf: &str) -> bool {
        self.rows
            .iter()
            .find(|r| r[0] == leaf)
            .is_some_and(|r| r.iter().any(|x| x == label))
    }

    /// The leaves under `label` (the label itself when it is a leaf).
    pub fn leaves_under(&self, label: &str) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| r.iter().any(|x| x == label))
            .map(|r| r[0].as_str())
            .collect()
    }

    pub(crate) fn tree(&self) -> Result<Tree, String> {
        Tree::build(&self.rows)
    }
}

/// Per-column hierarchies, keyed by column name.
#[derive(Debug, Clone, Default)]
pub struct Hierarchies {
    map: HashMap<String, Hierarchy>,
}

impl Hierarchies {
    /// No hierarchies.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the hierarchy of `column` (replacing any earlier one).
    pub fn insert(&mut self, column: impl Into<String>, hierarchy: Hierarchy) {
        self.map.insert(column.into(), hierarchy);
    }

    /// The hierarchy of `column`, if any.
    pub fn get(&self, column: &str) -> Option<&Hierarchy> {
        self.map.get(column)
    }

    /// Column names that have a hierarchy.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub label: String,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// Inclusive interval of leaf indices (DFS order) under this node.
    pub lo: u32,
    pub hi: u32,
}

/// A hierarchy as a tree whose leaves are numbered in depth-first order, so that every
/// subtree is a contiguous interval of leaf indices.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    pub nodes: Vec<Node>,
    /// Leaf index (DFS order) -> node id.
    pub leaf_node: Vec<usize>,
    /// Leaf value -> leaf index.
    pub leaf_index: HashMap<String, u32>,
    /// Node labels that may be published verbatim (unique among nodes, not a leaf name).
    publishable: Vec<bool>,
}

impl Tree {
    fn build(rows: &[Vec<String>]) -> Result<Tree, String> {
        let roots: HashSet<&str> = rows.iter().map(|r| r[r.len() - 1].as_str()).collect();
        let mut nodes = vec![Node {
            label: "*".into(),
            parent: None,
            children: vec![],
            lo: 0,
            hi: 0,
        }];
        let single_root = roots.len() == 1 && rows.iter().all(|r| r.len() > 1);
        if single_root {
            nodes[0].label = rows[0][rows[0].len() - 1].clone();
        }
        let mut child_of: HashMap<(usize, String), usize> = HashMap::new();
        let mut leaf_of_row = Vec::with_capacity(rows.len());
        for r in rows {
            let path: Vec<&String> = if single_root {
                r[..r.len() - 1].iter().rev().collect()
            } else {
                r.iter().rev().collect()
            };
            let mut cur = 0usize;
            for (depth, label) in path.iter().enumerate() {
                let key = (cur, (*label).clone());
                let next = match child_of.get(&key) {
                    Some(&id) => {
                        if depth + 1 == path.len() {
                            return Err(format!("leaf {:?} is also an inner node", r[0]));
                        }
                        id
                    }
                    None => {
                        let id = nodes.len();
                        nodes.push(Node {
                            label: (*label).clone(),
                            parent: Some(cur),
                            children: vec![],
                            lo: 0,
                            hi: 0,
                        });
                        nodes[cur].children.push(id);
                        child_of.insert(key, id);
                        id
                    }
                };
                cur = next;
            }
            leaf_of_row.push(cur);
        }
        for &leaf in &leaf_of_row {
            if !nodes[leaf].children.is_empty() {
                return Err(format!(
                    "{:?} is both a leaf and an inner node",
                    nodes[leaf].label
                ));
            }
        }
        // DFS numbering of leaves.
        let mut leaf_node = Vec::with_capacity(rows.len());
        let mut stack = vec![(0usize, false)];
        while let Some((id, done)) = stack.pop() {
            if done {
                let (lo, hi) = {
                    let ch = &nodes[id].children;
                    (nodes[ch[0]].lo, nodes[ch[ch.len() - 1]].hi)
                };
                nodes[id].lo = lo;
                nodes[id].hi = hi;
                continue;
            }
            if nodes[id].children.is_empty() {
                let i = leaf_node.len() as u32;
                nodes[id].lo = i;
                nodes[id].hi = i;
                leaf_node.push(id);
            } else {
                stack.push((id, true));
                for &c in nodes[id].children.iter().rev() {
                    stack.push((c, false));
                }
            }
        }
        let mut leaf_index = HashMap::new();
        for (i, &id) in leaf_node.iter().enumerate() {
            leaf_index.insert(nodes[id].label.clone(), i as u32);
        }
        let mut label_count: HashMap<&str, usize> = HashMap::new();
        for n in &nodes {
            *label_count.entry(n.label.as_str()).or_default() += 1;
        }
        let publishable = nodes
            .iter()
            .enumerate()
            .map(|(id, n)| {
                id == 0 && n.label == "*"
                    || (label_count[n.label.as_str()] == 1 && !leaf_index.contains_key(&n.label))
                    || n.children.is_empty()
            })
            .collect();
        Ok(Tree {
            nodes,
            leaf_node,
            leaf_index,
            publishable,
        })
    }

    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.leaf_node.len()
    }

    /// The lowest node covering leaves `lo..=hi` (DFS indices).
    pub fn lca(&self, lo: u32, hi: u32) -> usize {
        let mut id = self.leaf_node[lo as usize];
        while self.nodes[id].hi < hi {
            match self.nodes[id].parent {
                Some(p) => id = p,
                None => break,
            }
        }
        id
    }

    /// Whether the label of node `id` may be published (it reads back unambiguously).
    pub fn publishable(&self, id: usize) -> bool {
        self.publishable[id]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(lines: &str) -> Hierarchy {
        Hierarchy::from_reader(lines.as_bytes(), b';', "h").unwrap()
    }

    #[test]
    fn dfs_order_groups_subtrees() {
        let hy = h("a;X;*\nc;Y;*\nb;X;*\n");
        let t = hy.tree().unwrap();
        assert_eq!(t.leaf_index["a"], 0);
        assert_eq!(t.leaf_index["b"], 1);
        assert_eq!(t.leaf_index["c"], 2);
        let x = t.lca(0, 1);
        assert_eq!(t.nodes[x].label, "X");
        assert_eq!(t.nodes[t.lca(0, 2)].label, "*");
        assert!(hy.covers("X", "b"));
        assert_eq!(hy.leaves_under("X"), vec!["a", "b"]);
    }

    #[test]
    fn rejects_duplicate_leaf() {
        assert!(Hierarchy::from_reader("a;*\na;*\n".as_bytes(), b';', "h").is_err());
    }
}
