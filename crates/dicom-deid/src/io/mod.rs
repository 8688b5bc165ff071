//! Bounded, streaming reading and writing of DICOM files.
//!
//! The reader parses the File Meta Information and the data set *up to* the top-level Pixel
//! Data element into a [`Dataset`](crate::dataset::Dataset); the pixel data itself is then
//! streamed from input to output without being decoded or held in memory, and whatever
//! trails it is parsed again so that it goes through the profile too.
//!
//! Hand-written rather than `dicom-object`'s reader for three reasons that no crate option
//! covers: (1) that reader loads the whole file, pixel data included; (2) it trusts declared
//! lengths and allocates them up front (gigabytes for some 600-byte files in our corpus),
//! whereas here no allocation is ever larger than the bytes actually left in the file;
//! (3) it decodes and re-encodes every value, while de-identification must leave untouched
//! values byte-identical, whatever their character set.

mod read;
mod transfer;
mod write;

pub use read::{Header, PixelHeader, ReadError, Source, end_of_fragments};
pub use transfer::{Encoding, TransferSyntax};
pub use write::{BodyWriter, write_dataset, write_element, write_element_header, write_file_start};

use dicom_core::Tag;
use std::fmt;

/// A temporary file in the folder of `path` (so that renaming it onto `path` is atomic),
/// named `.deid-*.part`; it is deleted when dropped without being persisted.
pub fn temp_beside(path: &std::path::Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    tempfile::Builder::new()
        .prefix(".deid-")
        .suffix(".part")
        .tempfile_in(dir)
}

/// Where an element sits in the data set: each step is a tag, with the item index when
/// the step goes into a sequence item. Printed as `(0040,A730)[0]/(0040,A160)`.
///
/// A tag path names a place, never a value, so it is safe to show in errors and reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagPath(pub Vec<(Tag, Option<usize>)>);

impl TagPath {
    /// A path with `tag` appended.
    pub fn child(&self, tag: Tag) -> TagPath {
        let mut steps = self.0.clone();
        steps.push((tag, None));
        TagPath(steps)
    }

    /// A path with the last step marked as going into item `index`.
    pub fn item(&self, index: usize) -> TagPath {
        let mut steps = self.0.clone();
        if let Some(last) = steps.last_mut() {
            last.1 = Some(index);
        }
        TagPath(steps)
    }
}

impl fmt::Display for TagPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, (tag, item)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "({:04X},{:04X})", tag.group(), tag.element())?;
            if let Some(n) = item {
                write!(f, "[{n}]")?;
            }
        }
        Ok(())
    }
}

/// Tags with a structural meaning in the encoding.
pub mod tags {
    use dicom_core::Tag;
    /// Item.
    pub const ITEM: Tag = Tag(0xFFFE, 0xE000);
    /// Item Delimitation Item.
    pub const ITEM_END: Tag = Tag(0xFFFE, 0xE00D);
    /// Sequence Delimitation Item.
    pub const SEQ_END: Tag = Tag(0xFFFE, 0xE0DD);
    /// Pixel Data.
    pub const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
    /// Float Pixel Data.
    pub const FLOAT_PIXEL_DATA: Tag = Tag(0x7FE0, 0x0008);
    /// Double Float Pixel Data.
    pub const DOUBLE_FLOAT_PIXEL_DATA: Tag = Tag(0x7FE0, 0x0009);
    /// Transfer Syntax UID (file meta).
    pub const TRANSFER_SYNTAX_UID: Tag = Tag(0x0002, 0x0010);

    /// True for the three pixel data tags.
    pub fn is_pixel_data(tag: Tag) -> bool {
        tag == PIXEL_DATA || tag == FLOAT_PIXEL_DATA || tag == DOUBLE_FLOAT_PIXEL_DATA
    }
}
