//! Applying a profile to a data set: every element, in every item of every sequence.
//!
//! [`Actions::apply`] walks the data set once. For each element it asks the
//! [`Profile`] for an [`Action`] and carries it out; sequences
//! that are kept or cleaned are walked in turn. Private creator elements survive only when
//! an element of their block does. The walk counts what it did (never what it saw).

use crate::dataset::{Dataset, Element, Value, is_binary, pad_even};
use crate::dates;
use crate::io::TagPath;
use crate::keys::Key;
use crate::profile::{Action, DeidOption, Profile};
use dicom_core::{Tag, VR};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Patient Identifier: its dummy value is the keyed pseudonym, so patients stay linked.
pub const PATIENT_ID: Tag = Tag(0x0010, 0x0020);
const SPECIFIC_CHARACTER_SET: Tag = Tag(0x0008, 0x0005);
/// Standard UIDs (SOP classes, transfer syntaxes, coding schemes) identify no one.
const STANDARD_UID_ROOT: &str = "1.2.840.10008.";

/// A file that must not be released, with where and why (never a value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Dates must be shifted but the file has no Patient ID to derive the offset from.
    #[error("dates cannot be shifted: the file has no Patient ID (policy: reject)")]
    NoPatientIdentity,
    /// A date that must be shifted is not a valid date (policy: reject).
    #[error("{0}: a date that must be shifted is not a valid date (policy: reject)")]
    BadDate(TagPath),
}

/// What to do with dates when they must be shifted but cannot be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatePolicy {
    /// Remove the value (zero length): nothing of the original date survives.
    #[default]
    Remove,
    /// Reject the file.
    Reject,
}

/// Counts of the actions carried out, by action name.
pub type ActionCounts = BTreeMap<String, u64>;

/// The state of one walk over one file.
pub struct Actions<'a> {
    profile: &'a Profile,
    key: &'a Key,
    date_policy: DatePolicy,
    /// Patient identifiers to remove from free text, lower-cased (clean descriptors).
    identifiers: Vec<String>,
    /// Values the profile replaces (PN, LO, SH) that must not survive inside kept text.
    replaced: Vec<String>,
    date_offset: Option<i64>,
    counts: ActionCounts,
    /// Whether any date was shifted (→ Longitudinal Temporal Information Modified).
    pub dates_shifted: bool,
}

impl<'a> Actions<'a> {
    /// Prepares a walk for a data set whose top level is `top` (patient identity, offset).
    pub fn new(profile: &'a Profile, key: &'a Key, date_policy: DatePolicy, top: &Dataset) -> Self {
        let patient_id = top.get_str(PATIENT_ID).filter(|s| !s.is_empty());
        let date_offset = patient_id.map(|id| key.date_offset_days(id));
        Actions {
            profile,
            key,
            date_policy,
            identifiers: patient_identifiers(top),
            replaced: replaced_values(profile, top),
            date_offset,
            counts: ActionCounts::new(),
            dates_shifted: false,
        }
    }

    /// What was done so far.
    pub fn counts(&self) -> &ActionCounts {
        &self.counts
    }

    fn count(&mut self, what: &str) {
        *self.counts.entry(what.to_string()).or_default() += 1;
    }

    /// Applies the profile to `ds` and everything inside it.
    pub fn apply(&mut self, ds: &mut Dataset, path: &TagPath) -> Result<(), Rejection> {
        let charset = CharsetKind::of(ds);
        let creators = private_creators(ds);
        let mut kept_blocks: HashSet<(u16, u8)> = HashSet::new();
        let mut out = Dataset::new();
        let elements = std::mem::take(ds);
        let mut creators_seen = 0;
        for mut element in elements.into_elements() {
            let tag = element.tag;
            let epath = path.child(tag);
            if is_creator(tag) {
                creators_seen += 1;
                out.push_sorted(element); // creators are decided below
                continue;
            }
            let action =
                if tag.element() == 0 || matches!(tag.group(), 0x0000 | 0x0002 | 0x0004 | 0xFFFC) {
                    // Group lengths go stale; command, meta and directory groups and trailing padding
                    // have no place here.
                    Action::Remove
                } else if tag.group() % 2 == 1 {
                    let block = (tag.element() >> 8) as u8;
                    let creator = creators.get(&(tag.group(), block)).map(String::as_str);
                    self.profile.private_action(tag, element.vr, creator)
                } else {
                    self.profile.action(tag, element.vr)
                };
            if self.act(&mut element, &action, charset, &epath)? {
                if tag.group() % 2 == 1 {
                    kept_blocks.insert((tag.group(), (tag.element() >> 8) as u8));
                }
                out.push_sorted(element);
            }
        }
        out.retain(|e| {
            !is_creator(e.tag) || kept_blocks.contains(&(e.tag.group(), e.tag.element() as u8))
        });
        let creators_kept = out.elements().iter().filter(|e| is_creator(e.tag)).count();
        for _ in creators_kept..creators_seen {
            self.count("remove");
        }
        *ds = out;
        Ok(())
    }

    /// Carries out one action; returns whether the element stays.
    fn act(
        &mut self,
        e: &mut Element,
        action: &Action,
        charset: CharsetKind,
        path: &TagPath,
    ) -> Result<bool, Rejection> {
        let name = action.to_string();
        match action {
            Action::Remove => {
                self.count(&name);
                return Ok(false);
            }
            Action::Empty => {
                e.value = match e.value {
                    Value::Items(_) => Value::Items(Vec::new()),
                    _ => Value::Bytes(Vec::new()),
                };
            }
            Action::Dummy => {
                if let Value::Items(items) = &mut e.value {
                    // A sequence that must be present keeps its items, cleaned by the profile.
                    self.apply_items(items, path)?;
                } else if e.tag == PATIENT_ID {
                    let id = e.as_str().unwrap_or("").to_string();
                    set_text(e, &self.key.pseudonym(&id));
                } else {
                    e.value = Value::Bytes(dummy(e.vr, self.key, e.as_str().unwrap_or("")));
                }
            }
            Action::Keep => match &mut e.value {
                Value::Items(items) => self.apply_items(items, path)?,
                Value::Bytes(bytes) if is_free_text(e.vr) && !self.replaced.is_empty() => {
                    if let Some(scrubbed) = scrub(bytes, &self.replaced, charset) {
                        *bytes = scrubbed;
                        pad_even(e.vr, bytes);
                        self.count("scrub");
                    }
                }
                _ => {}
            },
            Action::Clean => self.clean(e, charset, path)?,
            Action::Uid => self.remap_uids(e),
            Action::Pseudonym => {
                let value = e.as_str().unwrap_or("").to_string();
                if value.is_empty() {
                    set_text(e, "");
                } else {
                    set_text(e, &self.key.pseudonym(&value));
                }
            }
            Action::ShiftDate => self.shift(e, path)?,
            Action::GeneraliseAge => {
                if let Some(age) = e.as_str().map(generalise_age) {
                    set_text(e, &age);
                } else {
                    e.value = Value::Bytes(Vec::new());
                }
            }
            Action::Replace(text) => set_text(e, text),
        }
        self.count(&name);
        Ok(true)
    }

    fn apply_items(&mut self, items: &mut [Dataset], path: &TagPath) -> Result<(), Rejection> {
        for (i, item) in items.iter_mut().enumerate() {
            self.apply(item, &path.item(i))?;
        }
        Ok(())
    }

    fn clean(
        &mut self,
        e: &mut Element,
        charset: CharsetKind,
        path: &TagPath,
    ) -> Result<(), Rejection> {
        match (&mut e.value, e.vr) {
            (Value::Items(items), _) => self.apply_items(items, path),
            (_, VR::DA | VR::DT) => self.shift(e, path),
            (_, VR::UI) => {
                self.remap_uids(e);
                Ok(())
            }
            (
                Value::Bytes(bytes),
                VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC | VR::PN | VR::CS,
            ) => {
                let had_text = bytes.iter().any(|b| !b" \0".contains(b));
                let mut cleaned = clean_text(bytes, &self.identifiers, charset, self.date_offset);
                if let Some(scrubbed) = scrub(&cleaned, &self.replaced, charset) {
                    cleaned = scrubbed;
                }
                let has_text = cleaned
                    .iter()
                    .any(|b| b.is_ascii_alphanumeric() || *b >= 0x80);
                *bytes = if had_text && !has_text {
                    // Nothing of meaning is left: a dummy keeps a required value present.
                    dummy(e.vr, self.key, "")
                } else {
                    cleaned
                };
                pad_even(e.vr, bytes);
                Ok(())
            }
            // Nothing we know how to clean in place (numbers, binary): keep no original.
            _ => {
                e.value = Value::Bytes(dummy(e.vr, self.key, ""));
                Ok(())
            }
        }
    }

    fn remap_uids(&mut self, e: &mut Element) {
        let Some(raw) = e.raw() else { return };
        let text = String::from_utf8_lossy(raw);
        let mapped: Vec<String> = text
            .trim_end_matches(['\0', ' '])
            .split('\\')
            .map(|u| {
                let u = u.trim_matches(|c: char| c == '\0' || c == ' ');
                if u.is_empty() || u.starts_with(STANDARD_UID_ROOT) {
                    u.to_string()
                } else {
                    self.key.uid(u)
                }
            })
            .collect();
        set_text(e, &mapped.join("\\"));
    }

    fn shift(&mut self, e: &mut Element, path: &TagPath) -> Result<(), Rejection> {
        if !matches!(e.vr, VR::DA | VR::DT) {
            return Ok(()); // TM and anything else: a whole-day shift changes nothing
        }
        let Some(days) = self.date_offset else {
            return match self.date_policy {
                DatePolicy::Reject => Err(Rejection::NoPatientIdentity),
                DatePolicy::Remove => {
                    self.unshiftable(e);
                    Ok(())
                }
            };
        };
        let value = e.as_str().map(str::to_string);
        match value.map(|v| dates::shift_value(&v, days, e.vr == VR::DT)) {
            Some(Ok(shifted)) => {
                set_text(e, &shifted);
                self.dates_shifted = true;
                Ok(())
            }
            _ => match self.date_policy {
                DatePolicy::Reject => Err(Rejection::BadDate(path.clone())),
                DatePolicy::Remove => {
                    self.unshiftable(e);
                    Ok(())
                }
            },
        }
    }

    /// A date that cannot be shifted gets what the Basic Profile gives it without the date
    /// options (a dummy where the table asks for one, so required dates stay present), and
    /// never its original value.
    fn unshiftable(&mut self, e: &mut Element) {
        let value = match self.profile.basic_action(e.tag) {
            Some(Action::Dummy) => dummy(e.vr, self.key, ""),
            _ => Vec::new(),
        };
        e.value = Value::Bytes(value);
    }
}

fn is_creator(tag: Tag) -> bool {
    tag.group() % 2 == 1 && (0x0010..=0x00FF).contains(&tag.element())
}

fn set_text(e: &mut Element, text: &str) {
    let mut bytes = text.as_bytes().to_vec();
    pad_even(e.vr, &mut bytes);
    e.value = Value::Bytes(bytes);
}

/// The private creator of each (group, block) at this level.
fn private_creators(ds: &Dataset) -> HashMap<(u16, u8), String> {
    ds.elements()
        .iter()
        .filter(|e| is_creator(e.tag))
        .filter_map(|e| {
            Some((
                (e.tag.group(), e.tag.element() as u8),
                e.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// A valid, meaningless value for a VR (the `D` action).
pub fn dummy(vr: VR, key: &Key, original: &str) -> Vec<u8> {
    let text: &str = match vr {
        VR::AE => "ANONYMOUS",
        VR::AS => "000Y",
        VR::CS => "ANONYMIZED",
        VR::DA => "19000101",
        VR::DT => "19000101000000",
        VR::TM => "000000",
        VR::DS | VR::IS => "0",
        VR::UI => {
            let uid = if original.is_empty() {
                "dummy".to_string()
            } else {
                key.uid(original)
            };
            let mut b = uid.into_bytes();
            pad_even(vr, &mut b);
            return b;
        }
        VR::UR => "urn:anonymized",
        VR::SS | VR::US | VR::OW => return vec![0; 2],
        VR::SL | VR::UL | VR::FL | VR::OF | VR::OL | VR::AT => return vec![0; 4],
        VR::FD | VR::SV | VR::UV | VR::OD | VR::OV => return vec![0; 8],
        _ if is_binary(vr) => return vec![0; 2],
        _ => "ANONYMIZED",
    };
    let mut b = text.as_bytes().to_vec();
    pad_even(vr, &mut b);
    b
}

/// HIPAA Safe Harbor: ages over 89 are aggregated into one category, written `090Y`.
pub fn generalise_age(age: &str) -> String {
    let age = age.trim();
    if !age.is_ascii() {
        return String::new();
    }
    let (num, unit) = age.split_at(age.len().saturating_sub(1));
    match (num.parse::<u32>(), unit) {
        (Ok(n), "Y") if n > 89 => "090Y".to_string(),
        (Ok(_), "Y" | "M" | "W" | "D") => age.to_string(),
        _ => String::new(),
    }
}

/// How the text of a data set is encoded, as far as cleaning is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CharsetKind {
    /// Default repertoire, or UTF-8: text can be decoded and edited.
    Utf8,
    /// Any other character set: values with non-ASCII bytes are replaced whole.
    Other,
}

impl CharsetKind {
    fn of(ds: &Dataset) -> Self {
        match ds.get_str(SPECIFIC_CHARACTER_SET) {
            None | Some("") | Some("ISO_IR 192") | Some("ISO_IR 6") => CharsetKind::Utf8,
            Some(_) => CharsetKind::Other,
        }
    }
}

/// The patient's own identifiers, as they may appear in free text (lower-cased).
fn patient_identifiers(ds: &Dataset) -> Vec<String> {
    const NAME_TAGS: [Tag; 4] = [
        Tag(0x0010, 0x0010),
        Tag(0x0010, 0x1001),
        Tag(0x0010, 0x1005),
        Tag(0x0010, 0x1060),
    ];
    const ID_TAGS: [Tag; 4] = [
        PATIENT_ID,
        Tag(0x0010, 0x1000),
        Tag(0x0008, 0x0050),
        Tag(0x0010, 0x0030),
    ];
    let mut ids: Vec<String> = Vec::new();
    for tag in NAME_TAGS {
        if let Some(name) = ds.get_str(tag) {
            ids.extend(name.split(['^', '=', '\\', ' ']).map(str::to_string));
        }
    }
    for tag in ID_TAGS {
        if let Some(v) = ds.get_str(tag) {
            ids.extend(v.split('\\').map(|s| s.trim().to_string()));
        }
    }
    if let Some(b) = ds.get_str(Tag(0x0010, 0x0030)).filter(|b| b.len() == 8) {
        // The birth date as people write it, too.
        let (y, m, d) = (&b[0..4], &b[4..6], &b[6..8]);
        ids.extend([
            format!("{y}-{m}-{d}"),
            format!("{d}.{m}.{y}"),
            format!("{m}/{d}/{y}"),
            format!("{d}/{m}/{y}"),
        ]);
    }
    let mut ids: Vec<String> = ids
        .into_iter()
        .map(|s| s.to_lowercase())
        .filter(|s| s.chars().count() >= 2)
        .collect();
    // Longest first, so "smithson" goes before "smith".
    ids.sort_by_key(|s| std::cmp::Reverse(s.len()));
    ids.dedup();
    ids
}

/// Removes the patient's identifiers (case-insensitive) from a text value, and shifts or
/// removes `YYYYMMDD` dates in it. Text that cannot be decoded safely is replaced whole.
fn clean_text(
    raw: &[u8],
    identifiers: &[String],
    charset: CharsetKind,
    offset: Option<i64>,
) -> Vec<u8> {
    let ascii = raw.iter().all(|&b| b < 0x80 && b != 0x1B);
    let text = match (ascii, charset, std::str::from_utf8(raw)) {
        (true, _, Ok(t)) | (false, CharsetKind::Utf8, Ok(t)) => t,
        _ => return Vec::new(),
    };
    let mut out = text.to_string();
    for id in identifiers {
        out = remove_case_insensitive(&out, id);
    }
    clean_embedded_dates(&out, offset).into_bytes()
}

fn remove_case_insensitive(text: &str, needle: &str) -> String {
    if needle.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match prefix_len_ignoring_case(rest, needle) {
            Some(len) if len > 0 => rest = &rest[len..],
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// The byte length of the prefix of `hay` that equals the lower-case `needle` once
/// lower-cased (Unicode case folding by `char::to_lowercase`), if there is one.
fn prefix_len_ignoring_case(hay: &str, needle: &str) -> Option<usize> {
    let mut want = needle.chars().peekable();
    for (at, c) in hay.char_indices() {
        if want.peek().is_none() {
            return Some(at);
        }
        for lower in c.to_lowercase() {
            if want.next() != Some(lower) {
                return None;
            }
        }
    }
    want.peek().is_none().then_some(hay.len())
}

/// Shifts (or, without an offset, removes) 8-digit tokens that are valid dates.
fn clean_embedded_dates(text: &str, offset: Option<i64>) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if run == 0 {
            let ch = text[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&text[i..i + ch]);
            i += ch;
            continue;
        }
        let token = &text[i..i + run];
        let is_date = run == 8
            && dates::shift_da_value(token, 0).is_ok()
            && (&token[..2] == "19" || &token[..2] == "20");
        if is_date {
            if let Some(Ok(s)) = offset.map(|d| dates::shift_da_value(token, d)) {
                out.push_str(&s);
            }
        } else {
            out.push_str(token);
        }
        i += run;
    }
    out
}

/// Text VRs whose kept values are scrubbed of replaced values.
fn is_free_text(vr: VR) -> bool {
    matches!(
        vr,
        VR::LO | VR::SH | VR::ST | VR::LT | VR::UT | VR::UC | VR::PN
    )
}

/// The values of identifying text attributes that the profile replaces or removes, which
/// must not survive elsewhere in kept free text (e.g. a detector ID repeated inside a kept
/// detector description). Values that the profile also keeps as a whole elsewhere, and
/// values shorter than 4 characters, are left out. Upper-cased: matching ignores ASCII case.
fn replaced_values(profile: &Profile, top: &Dataset) -> Vec<String> {
    fn collect(
        profile: &Profile,
        ds: &Dataset,
        replaced: &mut HashSet<String>,
        kept: &mut HashSet<String>,
    ) {
        let creators = private_creators(ds);
        for e in ds.elements() {
            let tag = e.tag;
            if let Value::Items(items) = &e.value {
                for item in items {
                    collect(profile, item, replaced, kept);
                }
                continue;
            }
            if is_creator(tag) || tag.element() == 0 {
                continue;
            }
            let action = if tag.group() % 2 == 1 {
                let creator = creators
                    .get(&(tag.group(), (tag.element() >> 8) as u8))
                    .map(String::as_str);
                profile.private_action(tag, e.vr, creator)
            } else {
                profile.action(tag, e.vr)
            };
            let Some(text) = e.as_str() else { continue };
            let values = text.split('\\').map(|v| v.trim().to_uppercase());
            if action == Action::Keep {
                kept.extend(values);
            } else if matches!(e.vr, VR::PN | VR::LO | VR::SH) {
                replaced.extend(values.filter(|v| v.chars().count() >= 4));
            }
        }
    }
    let (mut replaced, mut kept) = (HashSet::new(), HashSet::new());
    collect(profile, top, &mut replaced, &mut kept);
    let mut out: Vec<String> = replaced.difference(&kept).cloned().collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// Finds `needle` in `hay` as a whole word (ASCII case-insensitive; letters, digits and
/// `_` are word characters). Returns the byte position.
pub fn find_word(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    (0..=hay.len() - needle.len()).find(|&i| {
        hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
            && (i == 0 || !word(hay[i - 1]) || !word(needle[0]))
            && (i + needle.len() == hay.len()
                || !word(hay[i + needle.len()])
                || !word(needle[needle.len() - 1]))
    })
}

/// Removes every whole-word occurrence of the replaced values from a kept text value.
/// `None` when nothing matched. A value in a character set we cannot edit safely is
/// emptied whole when it matches.
fn scrub(raw: &[u8], replaced: &[String], charset: CharsetKind) -> Option<Vec<u8>> {
    if !replaced
        .iter()
        .any(|v| find_word(raw, v.as_bytes()).is_some())
    {
        return None;
    }
    let editable = charset == CharsetKind::Utf8 || raw.iter().all(|&b| b < 0x80 && b != 0x1B);
    if !editable {
        return Some(Vec::new());
    }
    let mut out = raw.to_vec();
    for v in replaced {
        while let Some(i) = find_word(&out, v.as_bytes()) {
            out.drain(i..i + v.len());
        }
    }
    Some(out)
}

/// Whether the options ask for dates to be shifted.
pub fn shifts_dates(profile: &Profile) -> bool {
    profile.has(DeidOption::RetainLongModifiedDates)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn text_cleaning_never_panics(text in "\\PC{0,40}", id in "\\PC{2,8}", offset in proptest::option::of(-400i64..0)) {
            let ids = vec![id.to_lowercase()];
            let _ = clean_text(text.as_bytes(), &ids, CharsetKind::Utf8, offset);
            let _ = scrub(text.as_bytes(), std::slice::from_ref(&id), CharsetKind::Other);
            let _ = generalise_age(&text);
            let needle = id.to_lowercase();
            let cleaned = remove_case_insensitive(&text, &needle);
            proptest::prop_assert!(cleaned.len() <= text.len());
            if prefix_len_ignoring_case(&text, &needle).is_none() && !text.to_lowercase().contains(&needle) {
                proptest::prop_assert_eq!(&cleaned, &text);
            }
            let planted = format!("{text}{id}{text}");
            let removed = remove_case_insensitive(&planted, &needle);
            proptest::prop_assert!(removed.len() < planted.len() || needle.is_empty());
        }
    }

    #[test]
    fn ages_over_89_are_grouped() {
        assert_eq!(generalise_age("095Y"), "090Y");
        assert_eq!(generalise_age("089Y"), "089Y");
        assert_eq!(generalise_age("011M"), "011M");
        assert_eq!(generalise_age("junk"), "");
        assert_eq!(generalise_age("09é"), "");
    }

    #[test]
    fn clean_text_removes_identifiers_case_insensitively() {
        let ids = vec!["smith".to_string(), "12345".to_string()];
        let out = clean_text(
            b"CT head SMITH pid 12345 on 20240102",
            &ids,
            CharsetKind::Utf8,
            None,
        );
        assert_eq!(String::from_utf8(out).unwrap(), "CT head  pid  on ");
        let out = clean_text(b"x 20240102", &ids, CharsetKind::Utf8, Some(-7));
        assert_eq!(String::from_utf8(out).unwrap(), "x 20231226");
    }

    #[test]
    fn kept_text_is_scrubbed_of_replaced_values_as_whole_words() {
        let replaced = vec!["L03-02246".to_string(), "TOSHIBA".to_string()];
        let out = scrub(b"SN=L03-02246;ctx=contact", &replaced, CharsetKind::Utf8).unwrap();
        assert_eq!(out, b"SN=;ctx=contact");
        assert_eq!(scrub(b"TOSHIBA_MEC", &replaced, CharsetKind::Utf8), None);
        assert_eq!(find_word(b"a toshiba b", b"TOSHIBA"), Some(2));
    }

    #[test]
    fn non_utf8_text_in_other_charsets_is_replaced_whole() {
        let ids = vec!["smith".to_string()];
        assert!(clean_text(b"\x1b$B\x30\x21", &ids, CharsetKind::Other, None).is_empty());
        assert!(clean_text("Müller".as_bytes(), &ids, CharsetKind::Other, None).is_empty());
        assert_eq!(
            clean_text("Müller smith".as_bytes(), &ids, CharsetKind::Utf8, None),
            "Müller ".as_bytes()
        );
    }
}
