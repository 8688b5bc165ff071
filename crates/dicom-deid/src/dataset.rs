//! The in-memory header model: a tree of raw data elements.
//!
//! Values are kept as the raw bytes read from the file (in the file's byte order), so
//! anything we do not touch is written back bit for bit, whatever its character set.
//! Sequences hold their items as nested [`Dataset`]s; encapsulated pixel data inside a
//! sequence item (icon images) keeps its fragments.
//!
//! Hand-written rather than `dicom_object::InMemDicomObject` because that model decodes
//! text through the Specific Character Set (ISO 2022 multi-byte sets are not supported) and
//! re-encodes every value on write; here untouched values must survive byte for byte.

use dicom_core::{Tag, VR};

/// The value of one data element.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A primitive value: the raw bytes, in the byte order of the source encoding.
    Bytes(Vec<u8>),
    /// A sequence (SQ, or UN of undefined length): one dataset per item.
    Items(Vec<Dataset>),
    /// Encapsulated pixel data: the Basic Offset Table first, then one entry per fragment.
    Fragments(Vec<Vec<u8>>),
}

/// One data element: tag, value representation and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// The attribute tag.
    pub tag: Tag,
    /// The value representation (from the file when explicit, from the dictionary when implicit).
    pub vr: VR,
    /// The value.
    pub value: Value,
}

impl Element {
    /// A primitive element with the given raw bytes.
    pub fn bytes(tag: Tag, vr: VR, bytes: impl Into<Vec<u8>>) -> Self {
        Element {
            tag,
            vr,
            value: Value::Bytes(bytes.into()),
        }
    }

    /// A text element; the value is padded to even length as the VR requires.
    pub fn text(tag: Tag, vr: VR, text: &str) -> Self {
        let mut bytes = text.as_bytes().to_vec();
        pad_even(vr, &mut bytes);
        Self::bytes(tag, vr, bytes)
    }

    /// A sequence element.
    pub fn sequence(tag: Tag, items: Vec<Dataset>) -> Self {
        Element {
            tag,
            vr: VR::SQ,
            value: Value::Items(items),
        }
    }

    /// The raw bytes of a primitive value, `None` for sequences and fragments.
    pub fn raw(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The value as text with the DICOM padding (trailing spaces and NULs) removed.
    ///
    /// `None` when the value is not a primitive or not valid UTF-8 (which includes every
    /// non-ASCII byte of a single-byte or ISO 2022 character set).
    pub fn as_str(&self) -> Option<&str> {
        let raw = self.raw()?;
        let s = std::str::from_utf8(raw).ok()?;
        Some(s.trim_end_matches(['\0', ' ']).trim_start_matches(' '))
    }
}

/// Pads a value to even length with the VR's padding byte (NUL for UI and binary, space for text).
pub fn pad_even(vr: VR, bytes: &mut Vec<u8>) {
    if bytes.len() % 2 == 1 {
        bytes.push(if vr == VR::UI || is_binary(vr) {
            0
        } else {
            b' '
        });
    }
}

/// True for VRs whose value is binary (byte-order dependent or opaque), not text.
pub fn is_binary(vr: VR) -> bool {
    matches!(
        vr,
        VR::OB
            | VR::OD
            | VR::OF
            | VR::OL
            | VR::OV
            | VR::OW
            | VR::SL
            | VR::SS
            | VR::SV
            | VR::UL
            | VR::US
            | VR::UV
            | VR::FL
            | VR::FD
            | VR::AT
            | VR::UN
    )
}

/// A data set (or a sequence item): elements kept in ascending tag order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    elements: Vec<Element>,
}

impl Dataset {
    /// An empty data set.
    pub fn new() -> Self {
        Self::default()
    }

    /// The elements in ascending tag order.
    pub fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// Mutable access to the elements (callers must not change tags).
    pub fn elements_mut(&mut self) -> &mut [Element] {
        &mut self.elements
    }

    /// Number of elements at this level.
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// True when there is no element at this level.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    fn position(&self, tag: Tag) -> Result<usize, usize> {
        self.elements.binary_search_by(|e| e.tag.cmp(&tag))
    }

    /// The element with this tag at this level.
    pub fn get(&self, tag: Tag) -> Option<&Element> {
        self.position(tag).ok().map(|i| &self.elements[i])
    }

    /// The element with this tag at this level, mutably.
    pub fn get_mut(&mut self, tag: Tag) -> Option<&mut Element> {
        match self.position(tag) {
            Ok(i) => Some(&mut self.elements[i]),
            Err(_) => None,
        }
    }

    /// The trimmed text value of the element with this tag, if present and valid UTF-8.
    pub fn get_str(&self, tag: Tag) -> Option<&str> {
        self.get(tag).and_then(Element::as_str)
    }

    /// Inserts an element, replacing any element with the same tag.
    pub fn put(&mut self, element: Element) {
        match self.position(element.tag) {
            Ok(i) => self.elements[i] = element,
            Err(i) => self.elements.insert(i, element),
        }
    }

    /// Appends an element known to sort after every present one (used by the reader);
    /// falls back to [`Dataset::put`] when the input is out of order or repeats a tag.
    pub fn push_sorted(&mut self, element: Element) {
        match self.elements.last() {
            Some(last) if last.tag >= element.tag => self.put(element),
            _ => self.elements.push(element),
        }
    }

    /// Removes and returns the element with this tag.
    pub fn remove(&mut self, tag: Tag) -> Option<Element> {
        self.position(tag).ok().map(|i| self.elements.remove(i))
    }

    /// Keeps only the elements for which `keep` returns true.
    pub fn retain(&mut self, keep: impl FnMut(&Element) -> bool) {
        self.elements.retain(keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_keeps_tag_order_and_replaces() {
        let mut ds = Dataset::new();
        ds.put(Element::text(Tag(0x0010, 0x0020), VR::LO, "B"));
        ds.put(Element::text(Tag(0x0008, 0x0060), VR::CS, "CT"));
        ds.put(Element::text(Tag(0x0010, 0x0020), VR::LO, "C"));
        let tags: Vec<_> = ds.elements().iter().map(|e| e.tag).collect();
        assert_eq!(tags, vec![Tag(0x0008, 0x0060), Tag(0x0010, 0x0020)]);
        assert_eq!(ds.get_str(Tag(0x0010, 0x0020)), Some("C"));
    }

    #[test]
    fn text_is_padded_per_vr() {
        assert_eq!(
            Element::text(Tag(8, 0x18), VR::UI, "1.2.3").raw(),
            Some(&b"1.2.3\0"[..])
        );
        assert_eq!(
            Element::text(Tag(8, 0x60), VR::CS, "MRI").raw(),
            Some(&b"MRI "[..])
        );
        assert_eq!(
            Element::text(Tag(8, 0x60), VR::CS, "MRI").as_str(),
            Some("MRI")
        );
    }
}
