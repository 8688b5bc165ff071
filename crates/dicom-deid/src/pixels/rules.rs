//! Pixel rules: the TOML format, loading, and matching against a header.

use super::{ImageInfo, PixelError};
use crate::dataset::{Dataset, Value};
use dicom_core::Tag;
use serde::Deserialize;
use std::path::Path;

/// The rule set shipped with the crate (`profiles/pixel-rules.toml`).
pub const DEFAULT_RULES: &str = include_str!("../../../../profiles/pixel-rules.toml");

/// Header attributes a rule condition may test, by keyword.
const CONDITION_KEYS: &[(&str, Tag)] = &[
    ("Modality", Tag(0x0008, 0x0060)),
    ("Manufacturer", Tag(0x0008, 0x0070)),
    ("ManufacturerModelName", Tag(0x0008, 0x1090)),
    ("Rows", Tag(0x0028, 0x0010)),
    ("Columns", Tag(0x0028, 0x0011)),
    ("SOPClassUID", Tag(0x0008, 0x0016)),
    ("ImageType", Tag(0x0008, 0x0008)),
    ("BurnedInAnnotation", Tag(0x0028, 0x0301)),
];

/// An ordered set of pixel rules. Every rule whose condition matches is applied, in order.
#[derive(Debug, Clone, Default)]
pub struct PixelRules {
    rules: Vec<Rule>,
}

/// One rule: a condition on header values, what to blank, and how.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's name (for reports).
    pub name: String,
    /// Every condition must hold (an empty list matches every image).
    pub conditions: Vec<Condition>,
    /// What the rule blanks.
    pub kind: RuleKind,
    /// How blanked pixels are filled.
    pub fill: Fill,
}

/// What a rule blanks.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// The listed rectangles.
    Rectangles(Vec<Rect>),
    /// Everything outside the regions of the Sequence of Ultrasound Regions (0018,6011).
    /// The rule does not match an image without that sequence (or without a usable region).
    UltrasoundRegions,
}

/// How redacted pixels are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fill {
    /// "Black" for the photometric interpretation: the minimum value for MONOCHROME2, the
    /// maximum for MONOCHROME1, (0,0,0) for RGB, (0, mid, mid) for YBR, index 0 for palettes.
    #[default]
    Black,
    /// One stored value for every sample of every redacted pixel.
    Value(i64),
    /// Each `block`×`block` square of the region is replaced by its mean.
    Pixelate(u32),
}

/// One coordinate of a rectangle: pixels from the start, pixels from the end (negative),
/// or a percentage of the image size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Coord {
    /// Pixels; negative counts back from the right or bottom edge (for x, y), or means
    /// "all but this many" (for width, height).
    Pixels(i64),
    /// A percentage of the columns (x, width) or rows (y, height).
    Percent(f64),
}

impl Coord {
    fn resolve(self, size: u32) -> i64 {
        match self {
            Coord::Pixels(p) if p < 0 => i64::from(size) + p,
            Coord::Pixels(p) => p,
            Coord::Percent(p) => (p / 100.0 * f64::from(size)).round() as i64,
        }
    }
}

/// A rectangle as written in a rule; resolved against the image size when applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: Coord,
    /// Top edge.
    pub y: Coord,
    /// Width.
    pub width: Coord,
    /// Height.
    pub height: Coord,
}

/// A rectangle in pixels, clipped to the image: columns `x0..x1`, rows `y0..y1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    /// First column.
    pub x0: u32,
    /// First row.
    pub y0: u32,
    /// One past the last column.
    pub x1: u32,
    /// One past the last row.
    pub y1: u32,
}

impl PixelRect {
    /// True when the rectangle covers no pixel.
    pub fn is_empty(&self) -> bool {
        self.x0 >= self.x1 || self.y0 >= self.y1
    }

    /// True when the pixel (x, y) is inside.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x0 && x < self.x1 && y >= self.y0 && y < self.y1
    }
}

impl Rect {
    /// The rectangle in pixels for an image of `cols`×`rows`, clipped to it.
    pub fn resolve(&self, cols: u32, rows: u32) -> PixelRect {
        let x = self.x.resolve(cols);
        let y = self.y.resolve(rows);
        let w = match self.width {
            Coord::Pixels(p) if p < 0 => i64::from(cols) + p - x,
            c => c.resolve(cols),
        };
        let h = match self.height {
            Coord::Pixels(p) if p < 0 => i64::from(rows) + p - y,
            c => c.resolve(rows),
        };
        let clip = |v: i64, max: u32| v.clamp(0, i64::from(max)) as u32;
        PixelRect {
            x0: clip(x, cols),
            y0: clip(y, rows),
            x1: clip(x.saturating_add(w.max(0)), cols),
            y1: clip(y.saturating_add(h.max(0)), rows),
        }
    }
}

/// A condition on one header attribute.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The attribute keyword (one of the supported ones).
    pub keyword: String,
    tag: Tag,
    /// Any of these must match.
    pub any_of: Vec<Matcher>,
}

/// How a value is compared. Text values are compared after removing DICOM padding; a
/// multi-valued attribute (ImageType) is compared as its whole backslash-joined value.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Equal to this text (or number).
    Exact(String),
    /// Starts with this text.
    Prefix(String),
    /// Matches this regular expression (unanchored; use `^…$` to anchor).
    Regex(regex::Regex),
    /// The attribute is absent or empty.
    Absent,
}

impl Matcher {
    fn matches(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (Matcher::Absent, v) => v.is_none_or(str::is_empty),
            (_, None) => false,
            (Matcher::Exact(e), Some(v)) => e == v,
            (Matcher::Prefix(p), Some(v)) => v.starts_with(p.as_str()),
            (Matcher::Regex(r), Some(v)) => r.is_match(v),
        }
    }
}

// ---- TOML model ----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RuleToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    when: toml::Table,
    #[serde(default)]
    rect: Vec<RectToml>,
    #[serde(default)]
    fill: Option<FillToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RectToml {
    x: CoordToml,
    y: CoordToml,
    width: CoordToml,
    height: CoordToml,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CoordToml {
    Int(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum FillToml {
    Name(String),
    Table(FillTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FillTable {
    #[serde(default)]
    value: Option<i64>,
    #[serde(default)]
    pixelate: Option<u32>,
}

fn bad(rule: &str, reason: String) -> PixelError {
    PixelError::Rules(format!("rule \"{rule}\": {reason}"))
}

fn coord(rule: &str, c: CoordToml) -> Result<Coord, PixelError> {
    match c {
        CoordToml::Int(i) => Ok(Coord::Pixels(i)),
        CoordToml::Text(t) => t
            .trim()
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<f64>().ok())
            .filter(|p| p.is_finite())
            .map(Coord::Percent)
            .ok_or_else(|| {
                bad(
                    rule,
                    format!("coordinate \"{t}\" is neither pixels nor \"N%\""),
                )
            }),
    }
}

fn matcher(rule: &str, key: &str, v: &toml::Value) -> Result<Vec<Matcher>, PixelError> {
    match v {
        toml::Value::String(s) => Ok(vec![Matcher::Exact(s.clone())]),
        toml::Value::Integer(i) => Ok(vec![Matcher::Exact(i.to_string())]),
        toml::Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(matcher(rule, key, item)?);
            }
            Ok(out)
        }
        toml::Value::Table(t) if t.len() == 1 => {
            let (kind, arg) = t.iter().next().expect("one entry");
            let text = match arg {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(true) if kind == "absent" => String::new(),
                _ => return Err(bad(rule, format!("{key}.{kind} needs a string"))),
            };
            match kind.as_str() {
                "exact" => Ok(vec![Matcher::Exact(text)]),
                "prefix" => Ok(vec![Matcher::Prefix(text)]),
                "regex" => regex::Regex::new(&text)
                    .map(|r| vec![Matcher::Regex(r)])
                    .map_err(|e| bad(rule, format!("{key}: bad regex: {e}"))),
                "absent" => Ok(vec![Matcher::Absent]),
                other => Err(bad(
                    rule,
                    format!("{key}: unknown match kind \"{other}\" (exact, prefix, regex, absent)"),
                )),
            }
        }
        _ => Err(bad(
            rule,
            format!("{key}: expected a string, a number, a list, or {{ exact|prefix|regex = … }}"),
        )),
    }
}

impl PixelRules {
    /// No rules.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The rules shipped in `profiles/pixel-rules.toml`.
    pub fn default_rules() -> Self {
        Self::from_toml(DEFAULT_RULES).expect("the shipped pixel rules are valid")
    }

    /// Parses a rule file (see the [module documentation](super) for the format).
    pub fn from_toml(text: &str) -> Result<Self, PixelError> {
        let file: RuleFile = toml::from_str(text).map_err(|e| PixelError::Rules(e.to_string()))?;
        let mut rules = Vec::new();
        for r in file.rule {
            let name = r.name;
            let kind = match r.kind.as_deref().unwrap_or("rectangles") {
                "rectangles" => {
                    if r.rect.is_empty() {
                        return Err(bad(&name, "a rectangles rule needs [[rule.rect]]".into()));
                    }
                    let mut rects = Vec::new();
                    for rt in r.rect {
                        rects.push(Rect {
                            x: coord(&name, rt.x)?,
                            y: coord(&name, rt.y)?,
                            width: coord(&name, rt.width)?,
                            height: coord(&name, rt.height)?,
                        });
                    }
                    RuleKind::Rectangles(rects)
                }
                "ultrasound-regions" => {
                    if !r.rect.is_empty() {
                        return Err(bad(
                            &name,
                            "an ultrasound-regions rule takes no rect".into(),
                        ));
                    }
                    RuleKind::UltrasoundRegions
                }
                other => {
                    return Err(bad(
                        &name,
                        format!("unknown kind \"{other}\" (rectangles, ultrasound-regions)"),
                    ));
                }
            };
            let fill = match r.fill {
                None => Fill::Black,
                Some(FillToml::Name(n)) if n == "black" => Fill::Black,
                Some(FillToml::Name(n)) => {
                    return Err(bad(&name, format!("unknown fill \"{n}\"")));
                }
                Some(FillToml::Table(FillTable {
                    value: Some(v),
                    pixelate: None,
                })) => Fill::Value(v),
                Some(FillToml::Table(FillTable {
                    value: None,
                    pixelate: Some(b),
                })) if b >= 1 => Fill::Pixelate(b),
                Some(FillToml::Table(_)) => {
                    return Err(bad(
                        &name,
                        "fill must be \"black\", { value = N } or { pixelate = N>0 }".into(),
                    ));
                }
            };
            let mut conditions = Vec::new();
            for (key, v) in &r.when {
                let tag = CONDITION_KEYS
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, t)| *t)
                    .ok_or_else(|| {
                        bad(
                            &name,
                            format!(
                                "unknown attribute \"{key}\" (supported: {})",
                                CONDITION_KEYS
                                    .iter()
                                    .map(|(k, _)| *k)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?;
                conditions.push(Condition {
                    keyword: key.clone(),
                    tag,
                    any_of: matcher(&name, key, v)?,
                });
            }
            rules.push(Rule {
                name,
                conditions,
                kind,
                fill,
            });
        }
        Ok(PixelRules { rules })
    }

    /// Reads a rule file.
    pub fn from_file(path: &Path) -> Result<Self, PixelError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| PixelError::Rules(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text)
    }

    /// These rules followed by `other`'s.
    pub fn extend(mut self, other: PixelRules) -> Self {
        self.rules.extend(other.rules);
        self
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// True when there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules whose conditions hold for this (original) header, with the regions each
    /// blanks resolved to pixels. A rule whose regions come out empty does not match.
    pub(crate) fn matching(
        &self,
        ds: &Dataset,
        info: &ImageInfo,
        big_endian: bool,
    ) -> Vec<(&Rule, Vec<PixelRect>)> {
        let mut out = Vec::new();
        for rule in &self.rules {
            let ok = rule.conditions.iter().all(|c| {
                let v = attribute_text(ds, c.tag, big_endian);
                c.any_of.iter().any(|m| m.matches(v.as_deref()))
            });
            if !ok {
                continue;
            }
            let rects = match &rule.kind {
                RuleKind::Rectangles(rects) => rects
                    .iter()
                    .map(|r| r.resolve(info.cols, info.rows))
                    .filter(|r| !r.is_empty())
                    .collect(),
                RuleKind::UltrasoundRegions => {
                    match us_regions(ds, big_endian, info.cols, info.rows) {
                        Some(keep) => complement(&keep, info.cols, info.rows),
                        None => continue,
                    }
                }
            };
            if !rects.is_empty() {
                out.push((rule, rects));
            }
        }
        out
    }
}

/// The value of an attribute as text: strings trimmed, US/UL/SS/SL as decimal numbers.
fn attribute_text(ds: &Dataset, tag: Tag, big_endian: bool) -> Option<String> {
    let e = ds.get(tag)?;
    match e.vr {
        dicom_core::VR::US | dicom_core::VR::SS => {
            super::read_u16(e.raw()?, big_endian).map(|v| v.to_string())
        }
        dicom_core::VR::UL | dicom_core::VR::SL => {
            super::read_u32(e.raw()?, big_endian).map(|v| v.to_string())
        }
        _ => e.as_str().map(str::to_string),
    }
}

/// The data regions of the Sequence of Ultrasound Regions, clipped to the image. `None`
/// when the sequence is absent or has no usable region.
fn us_regions(ds: &Dataset, big_endian: bool, cols: u32, rows: u32) -> Option<Vec<PixelRect>> {
    let Value::Items(items) = &ds.get(Tag(0x0018, 0x6011))?.value else {
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        let get = |el: u16| {
            item.get(Tag(0x0018, el))
                .and_then(|e| e.raw())
                .and_then(|b| super::read_u32(b, big_endian))
        };
        let (Some(x0), Some(y0), Some(x1), Some(y1)) =
            (get(0x6018), get(0x601A), get(0x601C), get(0x601E))
        else {
            continue;
        };
        // Max X1/Y1 are inclusive (PS3.3 C.8.5.5.1.2).
        let r = PixelRect {
            x0: x0.min(cols),
            y0: y0.min(rows),
            x1: x1.saturating_add(1).min(cols),
            y1: y1.saturating_add(1).min(rows),
        };
        if !r.is_empty() {
            out.push(r);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Rectangles covering every pixel outside `keep` (row bands split at each kept edge).
fn complement(keep: &[PixelRect], cols: u32, rows: u32) -> Vec<PixelRect> {
    let mut ys: Vec<u32> = vec![0, rows];
    for k in keep {
        ys.push(k.y0);
        ys.push(k.y1);
    }
    ys.sort_unstable();
    ys.dedup();
    let mut out = Vec::new();
    for w in ys.windows(2) {
        let (y0, y1) = (w[0], w[1]);
        if y0 >= y1 {
            continue;
        }
        let mut spans: Vec<(u32, u32)> = keep
            .iter()
            .filter(|k| k.y0 <= y0 && k.y1 >= y1)
            .map(|k| (k.x0, k.x1))
            .collect();
        spans.sort_unstable();
        let mut x = 0;
        for (a, b) in spans {
            if a > x {
                out.push(PixelRect {
                    x0: x,
                    y0,
                    x1: a,
                    y1,
                });
            }
            x = x.max(b);
        }
        if x < cols {
            out.push(PixelRect {
                x0: x,
                y0,
                x1: cols,
                y1,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_resolve() {
        let r = Rect {
            x: Coord::Pixels(0),
            y: Coord::Pixels(0),
            width: Coord::Percent(100.0),
            height: Coord::Pixels(60),
        };
        assert_eq!(
            r.resolve(640, 480),
            PixelRect {
                x0: 0,
                y0: 0,
                x1: 640,
                y1: 60
            }
        );
        let r = Rect {
            x: Coord::Pixels(-100),
            y: Coord::Percent(50.0),
            width: Coord::Pixels(500),
            height: Coord::Pixels(-10),
        };
        assert_eq!(
            r.resolve(640, 480),
            PixelRect {
                x0: 540,
                y0: 240,
                x1: 640,
                y1: 470
            }
        );
    }

    #[test]
    fn complement_covers_everything_outside() {
        let keep = [PixelRect {
            x0: 10,
            y0: 20,
            x1: 30,
            y1: 40,
        }];
        let rects = complement(&keep, 50, 60);
        for y in 0..60 {
            for x in 0..50 {
                let blanked = rects.iter().filter(|r| r.contains(x, y)).count();
                assert_eq!(blanked, usize::from(!keep[0].contains(x, y)), "({x},{y})");
            }
        }
    }

    #[test]
    fn bad_rules_are_errors() {
        assert!(PixelRules::from_toml("[[rule]]\nname='a'\n[rule.when]\nFoo='x'\n[[rule.rect]]\nx=0\ny=0\nwidth=1\nheight=1").is_err());
        assert!(PixelRules::from_toml("[[rule]]\nname='a'\n").is_err());
        assert!(
            PixelRules::from_toml(
                "[[rule]]\nname='a'\nkind='ultrasound-regions'\nfill={pixelate=0}"
            )
            .is_err()
        );
        assert!(
            PixelRules::from_toml(
                "[[rule]]\nname='a'\nkind='ultrasound-regions'\n[rule.when]\nModality={regex='('}"
            )
            .is_err()
        );
        assert!(!PixelRules::default_rules().is_empty());
    }
}
