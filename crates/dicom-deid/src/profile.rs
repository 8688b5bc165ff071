//! Profiles: which action each attribute gets.
//!
//! The basic profile is PS3.15 Table E.1-1 (with its option columns) and Table E.3.10-1
//! (safe private attributes), generated into `profiles/basic.toml` and
//! `profiles/safe-private.toml` by `cargo run -p xtask -- gen-profiles` and embedded in the
//! library. A user profile is a small TOML file that names a base profile, options and
//! overrides:
//!
//! ```toml
//! base = "basic"                      # "basic", or a path relative to this file
//! options = ["retain-long-modified-dates", "clean-descriptors"]
//!
//! [[override]]
//! keyword = "PatientID"               # or tag = "(0010,0020)", group = "(60xx,3000)",
//! action = "pseudonym"                # vr = "PN", private = { creator = "...", element = "(0029,xx10)" }
//!
//! [[override]]
//! tag = "(0008,0080)"
//! action = "replace"
//! value = "RESEARCH SITE"
//! ```
//!
//! How an attribute's action is chosen, first match wins:
//! 1. user overrides, in file order (a profile's own before its base's);
//! 2. the Table E.1-1 row of the tag (exact, then the 50xx/60xx masks): the Basic Profile
//!    code, replaced by the code of an enabled option; when two enabled options disagree,
//!    `C` (clean) beats `K` (keep), the more protective;
//! 3. attributes the table does not list: group lengths are removed; UIDs are remapped
//!    (kept under Retain UIDs); dates (DA, DT) are emptied, shifted or kept as the date
//!    options say; other attributes of the PS3.6 dictionary are kept;
//!    public attributes the dictionary does not know are removed (fail closed).
//!
//! Private attributes are removed, except under Retain Safe Private where the Table
//! E.3.10-1 entries of a matching private creator are kept.
//!
//! **Compound codes.** `X/Z`, `X/D`, `X/Z/D`, `Z/D` and `X/Z/U*` depend on the attribute's
//! type in the IOD, which the table does not give. We take the choice that keeps every IOD
//! valid without keeping any original value: `X/Z` → empty, `X/D`, `X/Z/D` and `Z/D` → a
//! dummy value, `X/Z/U*` → keep the sequence and apply the profile inside it (which remaps
//! the contained UIDs); on a sequence, any compound code keeps the sequence with the profile
//! applied inside, since an empty sequence is invalid where one item or more is required.
//! **Stricter than the table:** an overlay whose Overlay Data is removed is removed whole;
//! Patient's Age, when kept, is generalised (HIPAA: over 89 becomes `090Y`); date rows
//! that an option cleans are shifted (DA, DT) or kept (TM, whose whole-day shift is a
//! no-op).

use crate::dict;
use dicom_core::{Tag, VR};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;

const BASIC_TOML: &str = include_str!("../../../profiles/basic.toml");
const SAFE_PRIVATE_TOML: &str = include_str!("../../../profiles/safe-private.toml");
const PATIENT_AGE: Tag = Tag(0x0010, 0x1010);

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The profile file could not be read.
    #[error("cannot read profile {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is invalid or has unknown keys.
    #[error("invalid profile{}: {message}", .path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Toml {
        /// The file, when there is one.
        path: Option<PathBuf>,
        /// What the parser said.
        message: String,
    },
    /// An override or option is invalid.
    #[error("invalid profile rule: {0}")]
    Rule(String),
    /// Both longitudinal temporal options were asked for.
    #[error("retain-long-full-dates and retain-long-modified-dates exclude each other")]
    ConflictingDateOptions,
    /// Profiles name each other as base in a cycle.
    #[error("profile base cycle through {0}")]
    Cycle(PathBuf),
}

/// The options of PS3.15 Annex E, each with its CID 7050 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeidOption {
    /// Retain Safe Private Option (E.3.10).
    RetainSafePrivate,
    /// Retain UIDs Option (E.3.9).
    RetainUids,
    /// Retain Device Identity Option (E.3.8).
    RetainDeviceIdentity,
    /// Retain Institution Identity Option (E.3.11).
    RetainInstitutionIdentity,
    /// Retain Patient Characteristics Option (E.3.7).
    RetainPatientCharacteristics,
    /// Retain Longitudinal Temporal Information with Full Dates Option (E.3.6).
    RetainLongFullDates,
    /// Retain Longitudinal Temporal Information with Modified Dates Option (E.3.6).
    RetainLongModifiedDates,
    /// Clean Descriptors Option (E.3.5).
    CleanDescriptors,
    /// Clean Structured Content Option (E.3.4).
    CleanStructuredContent,
    /// Clean Graphics Option (E.3.3).
    CleanGraphics,
    /// Clean Pixel Data Option (E.3.1).
    CleanPixelData,
}

/// (option, command-line name, CID 7050 code, code meaning, Table E.1-1 column).
const OPTIONS: [(DeidOption, &str, &str, &str, Option<&str>); 11] = [
    (
        DeidOption::RetainSafePrivate,
        "retain-safe-private",
        "113111",
        "Retain Safe Private Option",
        Some("retain_safe_private"),
    ),
    (
        DeidOption::RetainUids,
        "retain-uids",
        "113110",
        "Retain UIDs Option",
        Some("retain_uids"),
    ),
    (
        DeidOption::RetainDeviceIdentity,
        "retain-device-identity",
        "113109",
        "Retain Device Identity Option",
        Some("retain_device_identity"),
    ),
    (
        DeidOption::RetainInstitutionIdentity,
        "retain-institution-identity",
        "113112",
        "Retain Institution Identity Option",
        Some("retain_institution_identity"),
    ),
    (
        DeidOption::RetainPatientCharacteristics,
        "retain-patient-characteristics",
        "113108",
        "Retain Patient Characteristics Option",
        Some("retain_patient_characteristics"),
    ),
    (
        DeidOption::RetainLongFullDates,
        "retain-long-full-dates",
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
        Some("retain_long_full_dates"),
    ),
    (
        DeidOption::RetainLongModifiedDates,
        "retain-long-modified-dates",
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
        Some("retain_long_modified_dates"),
    ),
    (
        DeidOption::CleanDescriptors,
        "clean-descriptors",
        "113105",
        "Clean Descriptors Option",
        Some("clean_descriptors"),
    ),
    (
        DeidOption::CleanStructuredContent,
        "clean-structured-content",
        "113104",
        "Clean Structured Content Option",
        Some("clean_structured_content"),
    ),
    (
        DeidOption::CleanGraphics,
        "clean-graphics",
        "113103",
        "Clean Graphics Option",
        Some("clean_graphics"),
    ),
    (
        DeidOption::CleanPixelData,
        "clean-pixel-data",
        "113101",
        "Clean Pixel Data Option",
        None,
    ),
];

impl DeidOption {
    /// Every option, in a fixed order.
    pub const ALL: [DeidOption; 11] = [
        DeidOption::RetainSafePrivate,
        DeidOption::RetainUids,
        DeidOption::RetainDeviceIdentity,
        DeidOption::RetainInstitutionIdentity,
        DeidOption::RetainPatientCharacteristics,
        DeidOption::RetainLongFullDates,
        DeidOption::RetainLongModifiedDates,
        DeidOption::CleanDescriptors,
        DeidOption::CleanStructuredContent,
        DeidOption::CleanGraphics,
        DeidOption::CleanPixelData,
    ];

    fn entry(
        self,
    ) -> &'static (
        DeidOption,
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
    ) {
        &OPTIONS[self as usize]
    }

    /// The command-line name, e.g. `retain-uids`.
    pub fn cli_name(self) -> &'static str {
        self.entry().1
    }

    /// The option of a command-line name.
    pub fn from_cli_name(name: &str) -> Option<Self> {
        OPTIONS.iter().find(|o| o.1 == name).map(|o| o.0)
    }

    /// The CID 7050 code value, e.g. `113110`.
    pub fn code(self) -> &'static str {
        self.entry().2
    }

    /// The CID 7050 code meaning.
    pub fn meaning(self) -> &'static str {
        self.entry().3
    }

    /// The Table E.1-1 column of this option (none for Clean Pixel Data).
    pub fn column(self) -> Option<&'static str> {
        self.entry().4
    }
}

impl fmt::Display for DeidOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cli_name())
    }
}

impl FromStr for DeidOption {
    type Err = ProfileError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_cli_name(s).ok_or_else(|| {
            let names: Vec<_> = OPTIONS.iter().map(|o| o.1).collect();
            ProfileError::Rule(format!(
                "unknown option '{s}' (known: {})",
                names.join(", ")
            ))
        })
    }
}

impl TryFrom<String> for DeidOption {
    type Error = ProfileError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DeidOption> for String {
    fn from(o: DeidOption) -> String {
        o.cli_name().to_string()
    }
}

/// What is done to one attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub enum Action {
    /// Remove the attribute (X).
    Remove,
    /// Replace with a zero-length value (Z).
    Empty,
    /// Replace with a dummy value valid for the VR (D).
    Dummy,
    /// Keep (K); sequences are walked and their content goes through the profile.
    Keep,
    /// Clean (C): identifiers removed from text, dates shifted, sequences walked.
    Clean,
    /// Replace each UID with its keyed replacement (U).
    Uid,
    /// Replace with a keyed pseudonym.
    Pseudonym,
    /// Shift dates by the patient's offset.
    ShiftDate,
    /// HIPAA age generalisation: over 89 becomes `090Y`.
    GeneraliseAge,
    /// Replace with a literal value.
    Replace(String),
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Remove => "remove",
            Action::Empty => "empty",
            Action::Dummy => "dummy",
            Action::Keep => "keep",
            Action::Clean => "clean",
            Action::Uid => "uid",
            Action::Pseudonym => "pseudonym",
            Action::ShiftDate => "shift",
            Action::GeneraliseAge => "age",
            Action::Replace(_) => "replace",
        })
    }
}

impl From<Action> for String {
    fn from(a: Action) -> String {
        match a {
            Action::Replace(v) => format!("replace({v})"),
            a => a.to_string(),
        }
    }
}

impl Action {
    /// Parses an action word; `replace` takes `value`.
    pub fn parse(word: &str, value: Option<&str>) -> Result<Action, ProfileError> {
        Ok(match (word, value) {
            ("remove", None) => Action::Remove,
            ("empty", None) => Action::Empty,
            ("dummy", None) => Action::Dummy,
            ("keep", None) => Action::Keep,
            ("clean", None) => Action::Clean,
            ("uid", None) => Action::Uid,
            ("pseudonym", None) => Action::Pseudonym,
            ("shift", None) => Action::ShiftDate,
            ("age", None) => Action::GeneraliseAge,
            ("replace", Some(v)) => Action::Replace(v.to_string()),
            ("replace", None) => {
                return Err(ProfileError::Rule(
                    "action 'replace' needs a 'value'".into(),
                ));
            }
            (w, Some(_)) if w != "replace" => {
                return Err(ProfileError::Rule(format!(
                    "'value' only goes with 'replace', not '{w}'"
                )));
            }
            (w, _) => return Err(ProfileError::Rule(format!("unknown action '{w}'"))),
        })
    }

    /// The action of a Table E.1-1 code, compound codes resolved (see the module doc).
    pub fn from_code(code: &str) -> Option<Action> {
        Some(match code {
            "X" => Action::Remove,
            "Z" | "X/Z" => Action::Empty,
            "D" | "X/D" | "X/Z/D" | "Z/D" => Action::Dummy,
            "K" | "X/Z/U*" => Action::Keep,
            "C" => Action::Clean,
            "U" => Action::Uid,
            _ => return None,
        })
    }
}

/// One row of Table E.1-1 as generated into `profiles/basic.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct TableRow {
    /// The tag as printed, e.g. `(0010,0010)`, `(60xx,3000)`.
    pub tag: String,
    /// The attribute name.
    pub name: String,
    /// Retired in PS3.6.
    pub retired: bool,
    /// Used in a standard composite IOD.
    pub in_std_comp_iod: bool,
    /// The Basic Profile code.
    pub basic: String,
    /// Codes of the option columns, by column name (only non-empty cells).
    #[serde(flatten)]
    pub options: std::collections::BTreeMap<String, String>,
}

/// One row of Table E.3.10-1 as generated into `profiles/safe-private.toml`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SafePrivateRow {
    /// The element as printed, e.g. `(0019,xx0C)`.
    pub element: String,
    /// The private creator.
    pub creator: String,
    /// The VR, when the standard gives one.
    pub vr: Option<String>,
    /// The VM.
    pub vm: String,
    /// What it means.
    pub meaning: String,
}

/// The generated `profiles/basic.toml`.
#[derive(Debug, Deserialize)]
pub struct BasicTable {
    /// Where the table came from.
    pub source: toml::Table,
    /// Table E.1-1a.
    pub action_codes: toml::Table,
    /// The rows of Table E.1-1.
    pub attribute: Vec<TableRow>,
}

/// The generated `profiles/safe-private.toml`.
#[derive(Debug, Deserialize)]
pub struct SafePrivateTable {
    /// Where the table came from.
    pub source: toml::Table,
    /// The rows of Table E.3.10-1.
    pub private: Vec<SafePrivateRow>,
}

static TABLES: LazyLock<(BasicTable, SafePrivateTable)> = LazyLock::new(|| {
    // The embedded text is generated and tested (`profile::tests`): a failure here is a
    // build defect, not an input error.
    let basic = toml::from_str(BASIC_TOML).map_err(|e| e.message().to_string());
    let safe = toml::from_str(SAFE_PRIVATE_TOML).map_err(|e| e.message().to_string());
    (
        basic.expect("embedded profiles/basic.toml is valid"),
        safe.expect("embedded profiles/safe-private.toml is valid"),
    )
});

static BASIC_ACTIONS: LazyLock<HashMap<Tag, Action>> = LazyLock::new(|| {
    let basic = Profile::basic();
    basic
        .by_tag
        .iter()
        .map(|(t, r)| (*t, r.action.clone()))
        .collect()
});

/// The rows of the embedded tables (for tests and `deid profile show`).
pub fn tables() -> (&'static BasicTable, &'static SafePrivateTable) {
    (&TABLES.0, &TABLES.1)
}

/// What an override applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// One tag.
    Tag(Tag),
    /// A tag pattern with `x` digits, as (group, mask, element, mask): bits set in a mask must match.
    Mask(u16, u16, u16, u16, String),
    /// Every attribute of this VR.
    Vr(VR),
    /// A private element: creator and element byte within its block, in a group.
    Private {
        /// The private creator.
        creator: String,
        /// The group.
        group: u16,
        /// The element's low byte.
        element: u8,
    },
}

impl Selector {
    fn matches(&self, tag: Tag, vr: VR, creator: Option<&str>) -> bool {
        match self {
            Selector::Tag(t) => *t == tag,
            Selector::Mask(g, gm, e, em, _) => tag.group() & gm == *g && tag.element() & em == *e,
            Selector::Vr(v) => *v == vr,
            Selector::Private {
                creator: c,
                group,
                element,
            } => {
                tag.group() == *group
                    && tag.element() as u8 == *element
                    && creator.map(str::trim) == Some(c.as_str())
            }
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Tag(t) => write!(f, "({:04X},{:04X})", t.group(), t.element()),
            Selector::Mask(.., text) => f.write_str(text),
            Selector::Vr(vr) => write!(f, "VR {vr}"),
            Selector::Private {
                creator,
                group,
                element,
            } => write!(f, "({group:04X},xx{element:02X}) \"{creator}\""),
        }
    }
}

/// Overlay groups 6000–601E (even).
fn is_overlay_group(group: u16) -> bool {
    (0x6000..=0x601E).contains(&group) && group % 2 == 0
}

/// Parses `(gggg,eeee)` where any digit may be `x` (case-insensitive).
fn parse_pattern(text: &str) -> Option<(u16, u16, u16, u16)> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    let (g, e) = inner.split_once(',')?;
    let one = |s: &str| -> Option<(u16, u16)> {
        let s = s.trim();
        if s.len() != 4 {
            return None;
        }
        let (mut value, mut mask) = (0u16, 0u16);
        for c in s.chars() {
            value <<= 4;
            mask <<= 4;
            if c != 'x' && c != 'X' {
                value |= c.to_digit(16)? as u16;
                mask |= 0xF;
            }
        }
        Some((value, mask))
    };
    let (g, gm) = one(g)?;
    let (e, em) = one(e)?;
    Some((g, gm, e, em))
}

/// A user override as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideToml {
    tag: Option<String>,
    keyword: Option<String>,
    group: Option<String>,
    vr: Option<String>,
    private: Option<PrivateToml>,
    action: String,
    value: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateToml {
    creator: String,
    element: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserProfileToml {
    base: Option<String>,
    #[serde(default)]
    options: Vec<DeidOption>,
    #[serde(default, rename = "override")]
    overrides: Vec<OverrideToml>,
}

impl OverrideToml {
    fn compile(&self) -> Result<(Selector, Action), ProfileError> {
        let action = Action::parse(&self.action, self.value.as_deref())?;
        let given = [
            self.tag.is_some(),
            self.keyword.is_some(),
            self.group.is_some(),
            self.vr.is_some(),
            self.private.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(ProfileError::Rule(
                "each override needs exactly one of tag, keyword, group, vr, private".into(),
            ));
        }
        let bad = |what: &str, v: &str| ProfileError::Rule(format!("invalid {what} '{v}'"));
        let selector = if let Some(t) = &self.tag {
            match parse_pattern(t) {
                Some((g, 0xFFFF, e, 0xFFFF)) => Selector::Tag(Tag(g, e)),
                _ => return Err(bad("tag", t)),
            }
        } else if let Some(k) = &self.keyword {
            Selector::Tag(dict::tag_of(k).ok_or_else(|| bad("keyword", k))?)
        } else if let Some(m) = &self.group {
            let (g, gm, e, em) = parse_pattern(m).ok_or_else(|| bad("group pattern", m))?;
            Selector::Mask(g, gm, e, em, m.clone())
        } else if let Some(v) = &self.vr {
            Selector::Vr(VR::from_str(v).map_err(|_| bad("VR", v))?)
        } else if let Some(p) = &self.private {
            let (g, gm, e, em) =
                parse_pattern(&p.element).ok_or_else(|| bad("private element", &p.element))?;
            if gm != 0xFFFF || g % 2 == 0 || em & 0xFF != 0xFF {
                return Err(bad("private element", &p.element));
            }
            Selector::Private {
                creator: p.creator.trim().to_string(),
                group: g,
                element: (e & 0xFF) as u8,
            }
        } else {
            unreachable!("exactly one selector is given")
        };
        Ok((selector, action))
    }
}

/// Where an effective rule comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleSource {
    /// The Basic Profile column of Table E.1-1.
    BasicProfile,
    /// An option column of Table E.1-1.
    Option(String),
    /// Stricter than the table (documented in the module doc).
    Stricter,
    /// A user override.
    Override,
    /// Table E.3.10-1 under Retain Safe Private.
    SafePrivate,
    /// What happens to attributes no table row lists.
    Default,
}

/// One effective rule, for display.
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveRule {
    /// The tag or pattern.
    pub selector: String,
    /// The attribute name.
    pub name: String,
    /// The table code before resolution, when from the table.
    pub code: Option<String>,
    /// The action carried out.
    pub action: Action,
    /// Where it comes from.
    pub source: RuleSource,
}

impl fmt::Display for EffectiveRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            RuleSource::BasicProfile => "basic profile".to_string(),
            RuleSource::Option(o) => format!("option {o}"),
            RuleSource::Stricter => "stricter than the table".to_string(),
            RuleSource::Override => "user override".to_string(),
            RuleSource::SafePrivate => "safe private (E.3.10-1)".to_string(),
            RuleSource::Default => "not in the table".to_string(),
        };
        let code = self
            .code
            .as_deref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        write!(
            f,
            "{:<28} {:<10} {}{code}  ({source})",
            self.selector,
            String::from(self.action.clone()),
            self.name
        )
    }
}

/// A resolved table rule.
#[derive(Debug, Clone)]
struct TableRule {
    action: Action,
    code: String,
    source: RuleSource,
    name: String,
}

/// A profile: table, options and overrides, resolved for fast look-up.
#[derive(Debug, Clone)]
pub struct Profile {
    options: BTreeSet<DeidOption>,
    overrides: Vec<(Selector, Action)>,
    by_tag: HashMap<Tag, TableRule>,
    /// Masked rows: (group, group mask, element, element mask, rule, printed tag).
    masked: Vec<(u16, u16, u16, u16, TableRule, String)>,
    /// (group, element byte, creator) of Table E.3.10-1.
    safe_private: HashSet<(u16, u8, String)>,
}

impl Profile {
    /// The embedded basic profile, without options.
    pub fn basic() -> Profile {
        let mut p = Profile {
            options: BTreeSet::new(),
            overrides: Vec::new(),
            by_tag: HashMap::new(),
            masked: Vec::new(),
            safe_private: HashSet::new(),
        };
        for row in &tables().1.private {
            if let Some((g, 0xFFFF, e, em)) = parse_pattern(&row.element) {
                if em & 0xFF == 0xFF {
                    p.safe_private
                        .insert((g, (e & 0xFF) as u8, row.creator.trim().to_string()));
                }
            }
        }
        p.resolve_table();
        p
    }

    /// Resolves the table rows under the current options.
    fn resolve_table(&mut self) {
        self.by_tag.clear();
        self.masked.clear();
        for row in &tables().0.attribute {
            let Some((g, gm, e, em)) = parse_pattern(&row.tag) else {
                continue; // "(gggg,eeee) where gggg is odd": private attributes, handled apart
            };
            let rule = self.resolve_row(row, (gm == 0xFFFF && em == 0xFFFF).then_some(Tag(g, e)));
            if gm == 0xFFFF && em == 0xFFFF {
                self.by_tag.insert(Tag(g, e), rule);
            } else {
                self.masked.push((g, gm, e, em, rule, row.tag.clone()));
            }
        }
    }

    fn resolve_row(&self, row: &TableRow, tag: Option<Tag>) -> TableRule {
        let mut code = row.basic.clone();
        let mut source = RuleSource::BasicProfile;
        for option in &self.options {
            let Some(c) = option.column().and_then(|col| row.options.get(col)) else {
                continue;
            };
            // C beats K when two enabled options disagree.
            if source == RuleSource::BasicProfile || (c == "C" && code == "K") {
                code = c.clone();
                source = RuleSource::Option(option.cli_name().to_string());
            }
        }
        let vr = tag.and_then(dict::vr_of);
        let mut action = Action::from_code(&code).unwrap_or(Action::Remove);
        if vr == Some(VR::SQ) && code.contains('/') {
            // A compound code on a sequence: an empty sequence breaks Type 3 sequences of
            // 1-n items, so keep it and apply the profile inside (as for X/Z/U*).
            action = Action::Keep;
        }
        if action == Action::Clean
            && self.has(DeidOption::RetainLongModifiedDates)
            && matches!(vr, Some(VR::DA | VR::DT | VR::TM))
        {
            action = if vr == Some(VR::TM) {
                Action::Keep
            } else {
                Action::ShiftDate
            };
        }
        if tag == Some(PATIENT_AGE) && action == Action::Keep {
            action = Action::GeneraliseAge;
            source = RuleSource::Stricter;
        }
        TableRule {
            action,
            code,
            source,
            name: row.name.clone(),
        }
    }

    /// A user profile from a file (its base resolved relative to the file).
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        Self::load_chain(path, &mut Vec::new())
    }

    fn load_chain(path: &Path, seen: &mut Vec<PathBuf>) -> Result<Profile, ProfileError> {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if seen.contains(&canonical) {
            return Err(ProfileError::Cycle(path.to_path_buf()));
        }
        seen.push(canonical);
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let parsed: UserProfileToml = toml::from_str(&text).map_err(|e| ProfileError::Toml {
            path: Some(path.to_path_buf()),
            message: e.to_string(),
        })?;
        Self::from_parsed(parsed, path.parent(), seen)
    }

    /// A user profile from TOML text; a relative `base` path is resolved against `base_dir`.
    pub fn from_toml_str(text: &str, base_dir: Option<&Path>) -> Result<Profile, ProfileError> {
        let parsed: UserProfileToml = toml::from_str(text).map_err(|e| ProfileError::Toml {
            path: None,
            message: e.to_string(),
        })?;
        Self::from_parsed(parsed, base_dir, &mut Vec::new())
    }

    fn from_parsed(
        parsed: UserProfileToml,
        dir: Option<&Path>,
        seen: &mut Vec<PathBuf>,
    ) -> Result<Profile, ProfileError> {
        let base = match parsed.base.as_deref() {
            None | Some("basic") => Profile::basic(),
            Some(other) => {
                let p = Path::new(other);
                let p = match dir {
                    Some(d) if p.is_relative() => d.join(p),
                    _ => p.to_path_buf(),
                };
                Self::load_chain(&p, seen)?
            }
        };
        let mut own = parsed
            .overrides
            .iter()
            .map(OverrideToml::compile)
            .collect::<Result<Vec<_>, _>>()?;
        let mut profile = base.with_options(parsed.options)?;
        own.append(&mut profile.overrides);
        profile.overrides = own;
        Ok(profile)
    }

    /// `basic` (the embedded profile), or a user profile file.
    pub fn named(name_or_path: &str) -> Result<Profile, ProfileError> {
        match name_or_path {
            "basic" => Ok(Profile::basic()),
            path => Profile::load(Path::new(path)),
        }
    }

    /// The profile with these options added.
    pub fn with_options(
        mut self,
        options: impl IntoIterator<Item = DeidOption>,
    ) -> Result<Profile, ProfileError> {
        let before = self.options.len();
        self.options.extend(options);
        if self.has(DeidOption::RetainLongFullDates)
            && self.has(DeidOption::RetainLongModifiedDates)
        {
            return Err(ProfileError::ConflictingDateOptions);
        }
        if self.options.len() != before {
            self.resolve_table();
        }
        Ok(self)
    }

    /// The enabled options, in [`DeidOption::ALL`] order.
    pub fn options(&self) -> Vec<DeidOption> {
        self.options.iter().copied().collect()
    }

    /// Whether an option is enabled.
    pub fn has(&self, option: DeidOption) -> bool {
        self.options.contains(&option)
    }

    fn table_rule(&self, tag: Tag) -> Option<&TableRule> {
        self.by_tag.get(&tag).or_else(|| {
            self.masked
                .iter()
                .find(|(g, gm, e, em, ..)| tag.group() & gm == *g && tag.element() & em == *e)
                .map(|m| &m.4)
        })
    }

    /// The action for a public (even group) attribute, at any depth.
    pub fn action(&self, tag: Tag, vr: VR) -> Action {
        if let Some((_, action)) = self
            .overrides
            .iter()
            .find(|(s, _)| s.matches(tag, vr, None))
        {
            return action.clone();
        }
        if let Some(rule) = self.table_rule(tag) {
            return rule.action.clone();
        }
        if is_overlay_group(tag.group()) {
            // An overlay whose data is removed is removed whole: its other attributes
            // would describe an overlay that is not there (Type 1 Overlay Data missing).
            if let Some(rule) = self.table_rule(Tag(tag.group(), 0x3000)) {
                if rule.action == Action::Remove {
                    return Action::Remove;
                }
            }
        }
        self.unlisted_action(tag, vr)
    }

    /// The action for an attribute the table does not list.
    fn unlisted_action(&self, tag: Tag, vr: VR) -> Action {
        if tag.element() == 0 {
            Action::Remove
        } else if vr == VR::UI || dict::vr_of(tag) == Some(VR::UI) {
            if self.has(DeidOption::RetainUids) {
                Action::Keep
            } else {
                Action::Uid
            }
        } else if matches!(dict::vr_of(tag), Some(VR::DA | VR::DT)) {
            // Table E.1-1 "is subject to extension": a date it does not list yet is still a
            // date of the patient's care, so it is handled by VR.
            if self.has(DeidOption::RetainLongFullDates) {
                Action::Keep
            } else if self.has(DeidOption::RetainLongModifiedDates) {
                Action::ShiftDate
            } else {
                Action::Empty
            }
        } else if dict::is_known(tag) {
            Action::Keep
        } else {
            Action::Remove
        }
    }

    /// The Basic Profile action of a listed attribute, without options or overrides
    /// (compound codes resolved as in [`Action::from_code`]).
    pub fn basic_action(&self, tag: Tag) -> Option<Action> {
        BASIC_ACTIONS.get(&tag).cloned()
    }

    /// The action for a private data element (not its creator) under `creator`.
    pub fn private_action(&self, tag: Tag, vr: VR, creator: Option<&str>) -> Action {
        if let Some((_, action)) = self
            .overrides
            .iter()
            .find(|(s, _)| s.matches(tag, vr, creator))
        {
            return action.clone();
        }
        let safe = creator.is_some_and(|c| {
            self.safe_private
                .contains(&(tag.group(), tag.element() as u8, c.trim().to_string()))
        });
        if self.has(DeidOption::RetainSafePrivate) && safe {
            Action::Keep
        } else {
            Action::Remove
        }
    }

    /// Every effective rule: overrides, then the table under the options, then the safe
    /// private entries when kept.
    pub fn rules(&self) -> Vec<EffectiveRule> {
        let mut rules: Vec<EffectiveRule> = self
            .overrides
            .iter()
            .map(|(s, a)| EffectiveRule {
                selector: s.to_string(),
                name: match s {
                    Selector::Tag(t) => dict::keyword(*t).unwrap_or("").to_string(),
                    _ => String::new(),
                },
                code: None,
                action: a.clone(),
                source: RuleSource::Override,
            })
            .collect();
        let mut table: Vec<(Tag, &TableRule)> = self.by_tag.iter().map(|(t, r)| (*t, r)).collect();
        table.sort_by_key(|(t, _)| *t);
        for (tag, rule) in table {
            rules.push(EffectiveRule {
                selector: Selector::Tag(tag).to_string(),
                name: rule.name.clone(),
                code: Some(rule.code.clone()),
                action: rule.action.clone(),
                source: rule.source.clone(),
            });
        }
        for (.., rule, text) in &self.masked {
            rules.push(EffectiveRule {
                selector: text.clone(),
                name: rule.name.clone(),
                code: Some(rule.code.clone()),
                action: rule.action.clone(),
                source: rule.source.clone(),
            });
        }
        let dates = if self.has(DeidOption::RetainLongFullDates) {
            Action::Keep
        } else if self.has(DeidOption::RetainLongModifiedDates) {
            Action::ShiftDate
        } else {
            Action::Empty
        };
        let uids = if self.has(DeidOption::RetainUids) {
            Action::Keep
        } else {
            Action::Uid
        };
        for (selector, name, action) in [
            ("(gggg,0000)", "group lengths", Action::Remove),
            (
                "VR UI",
                "other UIDs (standard 1.2.840.10008 UIDs are never changed)",
                uids,
            ),
            ("VR DA, DT", "other dates", dates),
            (
                "(other public)",
                "other attributes of the PS3.6 dictionary",
                Action::Keep,
            ),
            (
                "(unknown public)",
                "attributes PS3.6 does not define",
                Action::Remove,
            ),
            (
                "(gggg,eeee) odd",
                "private attributes not listed below",
                Action::Remove,
            ),
        ] {
            rules.push(EffectiveRule {
                selector: selector.to_string(),
                name: name.to_string(),
                code: None,
                action,
                source: RuleSource::Default,
            });
        }
        if self.has(DeidOption::RetainSafePrivate) {
            for row in &tables().1.private {
                rules.push(EffectiveRule {
                    selector: format!("{} \"{}\"", row.element, row.creator),
                    name: row.meaning.clone(),
                    code: None,
                    action: Action::Keep,
                    source: RuleSource::SafePrivate,
                });
            }
        }
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_resolve_table_rows() {
        let basic = Profile::basic();
        assert_eq!(basic.action(Tag(0x0020, 0x000D), VR::UI), Action::Uid);
        assert_eq!(basic.action(Tag(0x0010, 0x0010), VR::PN), Action::Empty);
        assert_eq!(basic.action(Tag(0x0008, 0x0020), VR::DA), Action::Empty);
        let p = Profile::basic()
            .with_options([DeidOption::RetainUids, DeidOption::RetainLongModifiedDates])
            .unwrap();
        assert_eq!(p.action(Tag(0x0020, 0x000D), VR::UI), Action::Keep);
        assert_eq!(p.action(Tag(0x0008, 0x0020), VR::DA), Action::ShiftDate);
        assert_eq!(p.action(Tag(0x0008, 0x0030), VR::TM), Action::Keep);
        assert!(
            Profile::basic()
                .with_options([
                    DeidOption::RetainLongFullDates,
                    DeidOption::RetainLongModifiedDates
                ])
                .is_err()
        );
    }

    #[test]
    fn clean_beats_keep_between_options() {
        // Rows where one option keeps and another cleans.
        let (basic, _) = tables();
        let row = basic
            .attribute
            .iter()
            .find(|r| r.options.values().any(|c| c == "K") && r.options.values().any(|c| c == "C"))
            .expect("the table has rows where options disagree");
        let mut options = Vec::new();
        for o in DeidOption::ALL {
            if o.column().is_some_and(|c| row.options.contains_key(c)) {
                options.push(o);
            }
        }
        let options: Vec<_> = options
            .into_iter()
            .filter(|o| *o != DeidOption::RetainLongFullDates)
            .collect();
        let p = Profile::basic().with_options(options).unwrap();
        let (g, _, e, _) = parse_pattern(&row.tag).unwrap();
        let action = p.action(Tag(g, e), dict::vr_of(Tag(g, e)).unwrap_or(VR::UN));
        assert_ne!(action, Action::Keep, "row {} {}", row.tag, row.name);
    }

    #[test]
    fn compound_codes_keep_iods_valid() {
        assert_eq!(Action::from_code("X/Z"), Some(Action::Empty));
        assert_eq!(Action::from_code("X/Z/D"), Some(Action::Dummy));
        assert_eq!(Action::from_code("Z/D"), Some(Action::Dummy));
        assert_eq!(Action::from_code("X/Z/U*"), Some(Action::Keep));
        // Patient ID is Z/D: a dummy (the engine makes it the keyed pseudonym).
        assert_eq!(
            Profile::basic().action(Tag(0x0010, 0x0020), VR::LO),
            Action::Dummy
        );
    }

    #[test]
    fn masks_unknown_and_unlisted() {
        let p = Profile::basic();
        assert_eq!(p.action(Tag(0x6002, 0x3000), VR::OW), Action::Remove);
        assert_eq!(p.action(Tag(0x6002, 0x0010), VR::US), Action::Remove); // the whole overlay
        assert_eq!(p.action(Tag(0x0008, 0x1110), VR::SQ), Action::Keep); // X/Z on a sequence
        assert_eq!(p.action(Tag(0x5010, 0x0005), VR::US), Action::Remove);
        assert_eq!(p.action(Tag(0x0008, 0x0060), VR::CS), Action::Keep); // Modality
        assert_eq!(p.action(Tag(0x0008, 0x1150), VR::UI), Action::Uid); // Referenced SOP Class: engine keeps standard UIDs
        assert_eq!(p.action(Tag(0x0012, 0x0000), VR::UL), Action::Remove);
        let unlisted_date = (0x0000..=0xFFFEu16)
            .map(|e| Tag(0x0018, e))
            .find(|t| dict::vr_of(*t) == Some(VR::DA) && p.table_rule(*t).is_none());
        if let Some(t) = unlisted_date {
            assert_eq!(p.action(t, VR::DA), Action::Empty, "unlisted date {t}");
        }
        assert_eq!(p.action(Tag(0x0008, 0x0002), VR::LO), Action::Remove); // not in PS3.6
        let age = Profile::basic()
            .with_options([DeidOption::RetainPatientCharacteristics])
            .unwrap();
        assert_eq!(age.action(PATIENT_AGE, VR::AS), Action::GeneraliseAge);
    }

    #[test]
    fn private_safe_list_needs_the_option() {
        let (_, safe) = tables();
        let row = &safe.private[0];
        let (g, _, e, _) = parse_pattern(&row.element).unwrap();
        let tag = Tag(g, 0x1000 | (e & 0xFF));
        assert_eq!(
            Profile::basic().private_action(tag, VR::DS, Some(&row.creator)),
            Action::Remove
        );
        let p = Profile::basic()
            .with_options([DeidOption::RetainSafePrivate])
            .unwrap();
        assert_eq!(
            p.private_action(tag, VR::DS, Some(&row.creator)),
            Action::Keep
        );
        assert_eq!(
            p.private_action(tag, VR::DS, Some("SOMEONE ELSE")),
            Action::Remove
        );
        assert_eq!(p.private_action(tag, VR::DS, None), Action::Remove);
    }

    #[test]
    fn overrides_come_first_and_compose() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("base.toml"),
            "options = [\"retain-uids\"]\n[[override]]\nvr = \"PN\"\naction = \"pseudonym\"\n[[override]]\nkeyword = \"PatientID\"\naction = \"keep\"\n",
        )
        .unwrap();
        let child = "base = \"base.toml\"\n[[override]]\ntag = \"(0010,0020)\"\naction = \"replace\"\nvalue = \"X\"\n[[override]]\nprivate = { creator = \"ACME\", element = \"(0029,xx10)\" }\naction = \"keep\"\n[[override]]\ngroup = \"(60xx,3000)\"\naction = \"keep\"\n";
        let p = Profile::from_toml_str(child, Some(dir.path())).unwrap();
        assert!(p.has(DeidOption::RetainUids));
        assert_eq!(
            p.action(Tag(0x0010, 0x0020), VR::LO),
            Action::Replace("X".into())
        );
        assert_eq!(p.action(Tag(0x0010, 0x0010), VR::PN), Action::Pseudonym);
        assert_eq!(p.action(Tag(0x6000, 0x3000), VR::OW), Action::Keep);
        assert_eq!(
            p.private_action(Tag(0x0029, 0x1110), VR::UN, Some("ACME ")),
            Action::Keep
        );
        assert_eq!(
            p.private_action(Tag(0x0029, 0x1110), VR::UN, Some("OTHER")),
            Action::Remove
        );
    }

    #[test]
    fn shipped_research_profile_loads() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../profiles/research.toml"
        ));
        let p = Profile::load(path).unwrap();
        assert!(p.has(DeidOption::RetainLongModifiedDates));
        assert_eq!(p.action(Tag(0x0010, 0x0020), VR::LO), Action::Pseudonym);
    }

    #[test]
    fn bad_profiles_are_typed_errors() {
        let err = |t: &str| Profile::from_toml_str(t, None).unwrap_err();
        assert!(matches!(err("bogus = 1"), ProfileError::Toml { .. }));
        assert!(matches!(
            err("[[override]]\nkeyword = \"NoSuchKeyword\"\naction = \"keep\""),
            ProfileError::Rule(_)
        ));
        assert!(matches!(
            err("[[override]]\ntag = \"(0010,0010)\"\naction = \"replace\""),
            ProfileError::Rule(_)
        ));
        assert!(matches!(
            err("options = [\"retain-everything\"]"),
            ProfileError::Toml { .. }
        ));
        assert!(matches!(
            err("options = [\"retain-long-full-dates\", \"retain-long-modified-dates\"]"),
            ProfileError::ConflictingDateOptions
        ));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "base = \"b.toml\"").unwrap();
        std::fs::write(dir.path().join("b.toml"), "base = \"a.toml\"").unwrap();
        assert!(matches!(
            Profile::load(&dir.path().join("a.toml")),
            Err(ProfileError::Cycle(_))
        ));
    }

    #[test]
    fn option_codes_agree_with_cid_7050() {
        let dir = std::env::var_os("DEID_SHARED_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
            });
        let text = std::fs::read_to_string(dir.join("ps3.15/cid7050.json"))
            .expect("shared/ps3.15/cid7050.json (set DEID_SHARED_DIR)");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let rows = json["rows"].as_array().unwrap();
        for o in DeidOption::ALL {
            let row = rows
                .iter()
                .find(|r| r["code_value"] == o.code())
                .unwrap_or_else(|| panic!("{o} code missing"));
            assert_eq!(row["code_meaning"], o.meaning(), "{o}");
        }
        assert_eq!(
            DeidOption::from_cli_name("retain-uids"),
            Some(DeidOption::RetainUids)
        );
    }
}
