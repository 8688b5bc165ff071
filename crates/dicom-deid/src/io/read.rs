//! The bounded reader: file meta, header up to Pixel Data, pixel streaming, trailer.

use super::TagPath;
use super::tags::{self, ITEM, ITEM_END, SEQ_END};
use super::transfer::{Encoding, TransferSyntax};
use super::write::write_element_header;
use crate::dataset::{Dataset, Element, Value};
use crate::dict;
use dicom_core::{Tag, VR};
use std::io::{self, Cursor, Read, Write};

/// The value of an undefined length.
pub(crate) const UNDEFINED: u32 = 0xFFFF_FFFF;
/// Sequences nested deeper than this are rejected (no real object comes close).
const MAX_DEPTH: usize = 32;
/// Granularity of incremental reads: no buffer grows faster than the data that arrives.
const CHUNK: u64 = 1 << 20;

/// Why a file could not be read. Messages name offsets and tag paths, never values.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The underlying reader failed.
    #[error("read error: {0}")]
    Io(#[from] io::Error),
    /// Writing the output failed while streaming pixel data.
    #[error("write error: {0}")]
    Output(io::Error),
    /// The bytes are not a DICOM file.
    #[error("not a DICOM file: {0}")]
    NotDicom(&'static str),
    /// The file ends in the middle of an element.
    #[error("truncated file: {what} of {path} at offset {offset}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where in the data set.
        path: TagPath,
        /// Byte offset in the (inflated) stream.
        offset: u64,
    },
    /// A declared length is larger than what is left of the file (or of its container).
    #[error("{path} declares {length} bytes at offset {offset} but only {left} remain")]
    LengthExceeds {
        /// Where in the data set.
        path: TagPath,
        /// The declared length.
        length: u64,
        /// What is left.
        left: u64,
        /// Byte offset in the (inflated) stream.
        offset: u64,
    },
    /// The structure is not valid DICOM.
    #[error("malformed {path} at offset {offset}: {reason}")]
    Malformed {
        /// Where in the data set.
        path: TagPath,
        /// What is wrong.
        reason: &'static str,
        /// Byte offset in the (inflated) stream.
        offset: u64,
    },
    /// Sequences are nested deeper than we accept.
    #[error("sequences nested deeper than {MAX_DEPTH} levels at {0}")]
    TooDeep(TagPath),
    /// A transfer syntax whose encoding we do not know (fail closed).
    #[error("unsupported transfer syntax {0}")]
    UnsupportedTransferSyntax(String),
}

/// The Pixel Data element header where the reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelHeader {
    /// (7FE0,0010), (7FE0,0008) or (7FE0,0009).
    pub tag: Tag,
    /// The VR (OB, OW, OF, OD).
    pub vr: VR,
    /// The value length; `None` for encapsulated (undefined length) data.
    pub length: Option<u32>,
}

/// Everything before the pixel data.
#[derive(Debug, Clone)]
pub struct Header {
    /// The File Meta Information (group 0002) as read; empty when the file has none.
    pub meta: Dataset,
    /// True when the file had a File Meta Information group.
    pub has_meta: bool,
    /// The transfer syntax: from the file meta, or detected when there is none.
    pub transfer_syntax: TransferSyntax,
    /// The data set up to (not including) the top-level pixel data.
    pub dataset: Dataset,
    /// The top-level pixel data element header, if the data set has one.
    pub pixel: Option<PixelHeader>,
}

/// A byte stream with a position, a known end when the file size is known, and push-back.
pub struct Source<'a> {
    inner: Box<dyn Read + 'a>,
    pos: u64,
    /// Total bytes in the stream, when known (not for a deflated data set).
    end: Option<u64>,
    encoding: Encoding,
}

impl<'a> Source<'a> {
    /// A source over `reader`; `len` is the total size in bytes when known (it bounds
    /// every declared length).
    pub fn new(reader: impl Read + 'a, len: Option<u64>) -> Self {
        Source {
            inner: Box::new(reader),
            pos: 0,
            end: len,
            encoding: Encoding::EXPLICIT_LE,
        }
    }

    /// Continues reading from `reader`, which must be positioned at stream offset `pos`
    /// (after the caller moved past some bytes itself, e.g. copied the pixel data).
    pub fn resume_at(&mut self, reader: impl Read + 'a, pos: u64) {
        self.inner = Box::new(reader);
        self.pos = pos;
    }

    /// Bytes read so far (of the inflated stream for a deflated data set).
    pub fn position(&self) -> u64 {
        self.pos
    }

    fn left(&self) -> Option<u64> {
        self.end.map(|e| e.saturating_sub(self.pos))
    }

    fn unread(&mut self, bytes: Vec<u8>) {
        self.pos -= bytes.len() as u64;
        let rest = std::mem::replace(&mut self.inner, Box::new(io::empty()));
        self.inner = Box::new(Cursor::new(bytes).chain(rest));
    }

    /// Reads up to `buf.len()` bytes; returns how many (fewer only at end of stream).
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pos += n as u64;
        Ok(n)
    }

    fn exact<const N: usize>(
        &mut self,
        what: &'static str,
        path: &TagPath,
    ) -> Result<[u8; N], ReadError> {
        let mut buf = [0u8; N];
        if self.fill(&mut buf)? < N {
            return Err(self.truncated(what, path));
        }
        Ok(buf)
    }

    fn truncated(&self, what: &'static str, path: &TagPath) -> ReadError {
        ReadError::Truncated {
            what,
            path: path.clone(),
            offset: self.pos,
        }
    }

    fn malformed(&self, path: &TagPath, reason: &'static str) -> ReadError {
        ReadError::Malformed {
            path: path.clone(),
            reason,
            offset: self.pos,
        }
    }

    /// Checks a declared length against what is left (of the file and of the container).
    fn check_length(
        &self,
        length: u64,
        container_end: Option<u64>,
        path: &TagPath,
    ) -> Result<(), ReadError> {
        let left = match (self.left(), container_end) {
            (Some(a), Some(b)) => Some(a.min(b.saturating_sub(self.pos))),
            (a, b) => a.or(b.map(|b| b.saturating_sub(self.pos))),
        };
        match left {
            Some(left) if length > left => Err(ReadError::LengthExceeds {
                path: path.clone(),
                length,
                left,
                offset: self.pos,
            }),
            _ => Ok(()),
        }
    }

    /// Reads exactly `length` bytes, growing the buffer only as data arrives.
    fn value(&mut self, length: u64, path: &TagPath) -> Result<Vec<u8>, ReadError> {
        let mut buf = Vec::with_capacity(length.min(CHUNK) as usize);
        let got = (&mut self.inner).take(length).read_to_end(&mut buf)?;
        self.pos += got as u64;
        if (got as u64) < length {
            return Err(self.truncated("value", path));
        }
        Ok(buf)
    }

    fn u16(&self, b: [u8; 2]) -> u16 {
        if self.encoding.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32(&self, b: [u8; 4]) -> u32 {
        if self.encoding.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn read_u16(&mut self, what: &'static str, path: &TagPath) -> Result<u16, ReadError> {
        let b = self.exact::<2>(what, path)?;
        Ok(self.u16(b))
    }

    fn read_u32(&mut self, what: &'static str, path: &TagPath) -> Result<u32, ReadError> {
        let b = self.exact::<4>(what, path)?;
        Ok(self.u32(b))
    }

    /// Reads a tag; `None` at a clean end of stream.
    fn tag(&mut self, path: &TagPath) -> Result<Option<Tag>, ReadError> {
        let mut b = [0u8; 4];
        match self.fill(&mut b)? {
            0 => Ok(None),
            4 => Ok(Some(Tag(self.u16([b[0], b[1]]), self.u16([b[2], b[3]])))),
            _ => Err(self.truncated("tag", path)),
        }
    }

    /// Reads the File Meta Information (or detects that there is none) and the data set up
    /// to the top-level pixel data.
    pub fn read_header(&mut self) -> Result<Header, ReadError> {
        let mut head = [0u8; 132];
        let n = self.fill(&mut head)?;
        let head = head[..n].to_vec();
        if n == 0 {
            return Err(ReadError::NotDicom("empty file"));
        }
        let (has_meta, skip) = if n == 132 && &head[128..132] == b"DICM" {
            (true, 132)
        } else if n >= 4 && &head[..4] == b"DICM" {
            (true, 4)
        } else if n >= 6
            && head[0] == 2
            && head[1] == 0
            && VR::from_binary([head[4], head[5]]).is_some()
        {
            (true, 0)
        } else {
            (false, 0)
        };
        self.unread(head[skip..].to_vec());
        let root = TagPath::default();

        let (meta, transfer_syntax) = if has_meta {
            self.encoding = Encoding::EXPLICIT_LE;
            let meta = self.read_meta()?;
            let uid = meta
                .get_str(tags::TRANSFER_SYNTAX_UID)
                .map(str::to_string)
                .filter(|s| !s.is_empty());
            let ts = match uid {
                Some(uid) => TransferSyntax::from_uid(&uid)?,
                // File meta without a Transfer Syntax UID: detect from the data set.
                None => TransferSyntax::for_encoding(self.detect_encoding()?),
            };
            (meta, ts)
        } else {
            (
                Dataset::new(),
                TransferSyntax::for_encoding(self.detect_encoding()?),
            )
        };

        let mut transfer_syntax = transfer_syntax;
        self.encoding = transfer_syntax.encoding;
        if !transfer_syntax.is_encapsulated()
            && !self.encoding.deflated
            && !self.encoding.big_endian
        {
            // A wrong declared VR encoding (a known encoder bug): trust the bytes. The
            // output then declares the encoding it really has.
            let actual = self.detect_encoding().unwrap_or(self.encoding);
            if actual.explicit != self.encoding.explicit && !actual.big_endian {
                transfer_syntax = TransferSyntax::for_encoding(actual);
                self.encoding = actual;
            }
        }
        if self.encoding.deflated {
            let rest = std::mem::replace(&mut self.inner, Box::new(io::empty()));
            self.inner = Box::new(flate2::read::DeflateDecoder::new(rest));
            self.end = None;
            self.encoding.deflated = false;
        }
        let mut dataset = Dataset::new();
        let pixel = self.read_elements(&mut dataset, None, &root, 0, true)?;
        if dataset.is_empty() && pixel.is_none() {
            return Err(ReadError::NotDicom("no data set after the file meta"));
        }
        Ok(Header {
            meta,
            has_meta,
            transfer_syntax,
            dataset,
            pixel,
        })
    }

    fn read_meta(&mut self) -> Result<Dataset, ReadError> {
        let mut meta = Dataset::new();
        let root = TagPath::default();
        loop {
            let mut raw = [0u8; 4];
            match self.fill(&mut raw)? {
                0 => break,
                4 => {}
                _ => return Err(self.truncated("tag", &root)),
            }
            let tag = Tag(
                u16::from_le_bytes([raw[0], raw[1]]),
                u16::from_le_bytes([raw[2], raw[3]]),
            );
            if tag.group() != 0x0002 {
                self.unread(raw.to_vec());
                break;
            }
            let element = self.read_element_after_tag(tag, None, &root, 0)?;
            meta.push_sorted(element);
        }
        Ok(meta)
    }

    /// Guesses the encoding of a data set without file meta from its first element.
    fn detect_encoding(&mut self) -> Result<Encoding, ReadError> {
        let mut b = [0u8; 8];
        let n = self.fill(&mut b)?;
        self.unread(b[..n].to_vec());
        if n < 8 {
            return Err(ReadError::NotDicom("too short for a data element"));
        }
        let vr_ok = VR::from_binary([b[4], b[5]]).is_some();
        let le_group = u16::from_le_bytes([b[0], b[1]]);
        let be_group = u16::from_be_bytes([b[0], b[1]]);
        let plausible = |g: u16| g % 2 == 0 && (0x0002..=0x0028).contains(&g);
        if plausible(le_group) && vr_ok {
            Ok(Encoding::EXPLICIT_LE)
        } else if plausible(be_group) && vr_ok {
            Ok(Encoding::EXPLICIT_BE)
        } else if plausible(le_group) {
            Ok(Encoding::IMPLICIT_LE)
        } else {
            Err(ReadError::NotDicom(
                "no file meta and no recognisable first element",
            ))
        }
    }

    /// Reads elements into `ds` until `end` (a stream position), an item delimiter, the end
    /// of the stream (top level only) or, at top level, the pixel data header.
    fn read_elements(
        &mut self,
        ds: &mut Dataset,
        end: Option<u64>,
        path: &TagPath,
        depth: usize,
        top: bool,
    ) -> Result<Option<PixelHeader>, ReadError> {
        loop {
            if let Some(end) = end {
                if self.pos == end {
                    return Ok(None);
                }
                if self.pos > end {
                    return Err(self.malformed(path, "element runs past the end of its item"));
                }
            }
            let Some(tag) = self.tag(path)? else {
                if top && end.is_none() {
                    return Ok(None);
                }
                return Err(self.truncated("item", path));
            };
            if tag == ITEM_END && !top {
                let len = self.read_u32("item delimiter length", path)?;
                if len != 0 {
                    return Err(self.malformed(path, "item delimiter with a non-zero length"));
                }
                if end.is_some() {
                    return Err(
                        self.malformed(path, "item delimiter inside an item of defined length")
                    );
                }
                return Ok(None);
            }
            if tag == ITEM {
                // A stray item where an element should be (known encoder bugs: an empty item
                // after a zero-length sequence, or a sequence whose header went missing).
                // What it holds belongs to no attribute we can name, so it is dropped.
                let len = self.read_u32("item length", path)?;
                if len == UNDEFINED {
                    return Err(
                        self.malformed(&path.child(tag), "item where a data element was expected")
                    );
                }
                self.check_length(len as u64, end, &path.child(tag))?;
                self.value(len as u64, &path.child(tag))?;
                continue;
            }
            if tag.group() == 0xFFFE {
                return Err(self.malformed(
                    &path.child(tag),
                    "item tag where a data element was expected",
                ));
            }
            if top && tags::is_pixel_data(tag) {
                let (vr, length) = self.element_vr_and_length(tag, &path.child(tag))?;
                let length = (length != UNDEFINED).then_some(length);
                if let Some(len) = length {
                    self.check_length(len as u64, end, &path.child(tag))?;
                }
                return Ok(Some(PixelHeader { tag, vr, length }));
            }
            let element = self.read_element_after_tag(tag, end, path, depth)?;
            ds.push_sorted(element);
        }
    }

    /// Reads the VR (explicit, or from the dictionary) and the value length.
    fn element_vr_and_length(&mut self, tag: Tag, path: &TagPath) -> Result<(VR, u32), ReadError> {
        if self.encoding.explicit {
            let vr_bytes = self.exact::<2>("VR", path)?;
            match VR::from_binary(vr_bytes) {
                Some(vr) if has_long_length(vr) => {
                    self.exact::<2>("reserved bytes", path)?;
                    Ok((vr, self.read_u32("length", path)?))
                }
                Some(vr) => Ok((vr, self.read_u16("length", path)? as u32)),
                None => {
                    // Not a VR: this element is implicit VR inside an explicit data set
                    // (a known encoder bug); its 4-byte length starts where the VR would be.
                    let rest = self.exact::<2>("length", path)?;
                    let len = self.u32([vr_bytes[0], vr_bytes[1], rest[0], rest[1]]);
                    Ok((implicit_vr(tag), len))
                }
            }
        } else {
            Ok((implicit_vr(tag), self.read_u32("length", path)?))
        }
    }

    fn read_element_after_tag(
        &mut self,
        tag: Tag,
        end: Option<u64>,
        parent: &TagPath,
        depth: usize,
    ) -> Result<Element, ReadError> {
        let path = parent.child(tag);
        let (mut vr, length) = self.element_vr_and_length(tag, &path)?;
        if length == UNDEFINED {
            if tags::is_pixel_data(tag) {
                let fragments = self.read_fragments(&path)?;
                return Ok(Element {
                    tag,
                    vr,
                    value: Value::Fragments(fragments),
                });
            }
            if !matches!(vr, VR::SQ | VR::UN) {
                return Err(self.malformed(&path, "undefined length on a non-sequence element"));
            }
            // UN of undefined length holds implicit VR little endian items (PS3.5 6.2.2).
            let saved = self.encoding;
            if vr == VR::UN {
                self.encoding = Encoding::IMPLICIT_LE;
            }
            let items = self.read_items(None, &path, depth + 1);
            self.encoding = saved;
            let items = items?;
            if vr == VR::UN && tag.group() % 2 == 0 && dict::vr_of(tag) == Some(VR::SQ) {
                vr = VR::SQ;
            }
            return Ok(Element {
                tag,
                vr,
                value: Value::Items(items),
            });
        }
        self.check_length(length as u64, end, &path)?;
        if vr == VR::SQ {
            let item_end = self.pos + length as u64;
            let items = self.read_items(Some(item_end), &path, depth + 1)?;
            return Ok(Element::sequence(tag, items));
        }
        let bytes = self.value(length as u64, &path)?;
        if vr == VR::UN && tag.group() % 2 == 0 && !self.encoding.big_endian {
            match dict::vr_of(tag) {
                // A public sequence stored as UN: parse it, so its content is de-identified.
                Some(VR::SQ) => {
                    let mut sub = Source::new(Cursor::new(bytes), Some(length as u64));
                    sub.encoding = Encoding::IMPLICIT_LE;
                    let items = sub.read_items(Some(length as u64), &path, depth + 1)?;
                    return Ok(Element::sequence(tag, items));
                }
                Some(known) => vr = known,
                None => {}
            }
        }
        Ok(Element::bytes(tag, vr, bytes))
    }

    fn read_items(
        &mut self,
        end: Option<u64>,
        path: &TagPath,
        depth: usize,
    ) -> Result<Vec<Dataset>, ReadError> {
        if depth > MAX_DEPTH {
            return Err(ReadError::TooDeep(path.clone()));
        }
        let mut items = Vec::new();
        loop {
            if let Some(end) = end {
                if self.pos == end {
                    return Ok(items);
                }
            }
            let Some(tag) = self.tag(path)? else {
                return Err(self.truncated("sequence", path));
            };
            let len = self.read_u32("item length", path)?;
            if tag == SEQ_END {
                if end.is_some() {
                    return Err(
                        self.malformed(path, "sequence delimiter in a sequence of defined length")
                    );
                }
                return Ok(items);
            }
            if tag != ITEM {
                return Err(self.malformed(path, "expected an item in a sequence"));
            }
            let item_path = path.item(items.len());
            let item_end = if len == UNDEFINED {
                None
            } else {
                self.check_length(len as u64, end, &item_path)?;
                Some(self.pos + len as u64)
            };
            let mut item = Dataset::new();
            self.read_elements(&mut item, item_end, &item_path, depth, false)?;
            items.push(item);
        }
    }

    fn read_fragments(&mut self, path: &TagPath) -> Result<Vec<Vec<u8>>, ReadError> {
        let mut fragments = Vec::new();
        loop {
            let Some(tag) = self.tag(path)? else {
                return Err(self.truncated("pixel data fragments", path));
            };
            let len = self.read_u32("fragment length", path)?;
            match tag {
                SEQ_END => return Ok(fragments),
                ITEM if len != UNDEFINED => {
                    self.check_length(len as u64, None, path)?;
                    fragments.push(self.value(len as u64, path)?);
                }
                _ => return Err(self.malformed(path, "expected a pixel data fragment")),
            }
        }
    }

    /// Reads the whole top-level pixel data value into memory (for pixel actions).
    pub fn read_pixel_value(&mut self, px: &PixelHeader) -> Result<Value, ReadError> {
        let path = TagPath::default().child(px.tag);
        match px.length {
            Some(len) => Ok(Value::Bytes(self.value(len as u64, &path)?)),
            None => Ok(Value::Fragments(self.read_fragments(&path)?)),
        }
    }

    /// Copies the top-level pixel data element (header and value) to `out`, in `encoding`,
    /// without holding it in memory. Returns the number of value bytes copied.
    pub fn copy_pixel_data(
        &mut self,
        px: &PixelHeader,
        out: &mut dyn Write,
    ) -> Result<u64, ReadError> {
        let path = TagPath::default().child(px.tag);
        let enc = self.encoding;
        let header_len = px.length.unwrap_or(UNDEFINED);
        write_element_header(out, px.tag, px.vr, header_len, enc).map_err(ReadError::Output)?;
        match px.length {
            Some(len) => self.copy_exact(len as u64, out, &path),
            None => {
                let mut total = 0;
                loop {
                    let Some(tag) = self.tag(&path)? else {
                        return Err(self.truncated("pixel data fragments", &path));
                    };
                    let len = self.read_u32("fragment length", &path)?;
                    match tag {
                        SEQ_END => {
                            write_element_header(
                                out,
                                SEQ_END,
                                VR::UN,
                                0,
                                Encoding {
                                    explicit: false,
                                    ..enc
                                },
                            )
                            .map_err(ReadError::Output)?;
                            return Ok(total);
                        }
                        ITEM if len != UNDEFINED => {
                            self.check_length(len as u64, None, &path)?;
                            write_element_header(
                                out,
                                ITEM,
                                VR::UN,
                                len,
                                Encoding {
                                    explicit: false,
                                    ..enc
                                },
                            )
                            .map_err(ReadError::Output)?;
                            total += self.copy_exact(len as u64, out, &path)?;
                        }
                        _ => return Err(self.malformed(&path, "expected a pixel data fragment")),
                    }
                }
            }
        }
    }

    fn copy_exact(
        &mut self,
        len: u64,
        out: &mut dyn Write,
        path: &TagPath,
    ) -> Result<u64, ReadError> {
        let mut buf = vec![0u8; len.min(256 * 1024) as usize];
        let mut left = len;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let got = self.fill(&mut buf[..want])?;
            if got == 0 {
                return Err(self.truncated("pixel data", path));
            }
            out.write_all(&buf[..got]).map_err(ReadError::Output)?;
            left -= got as u64;
        }
        Ok(len)
    }

    /// Reads whatever follows the pixel data (normally nothing) as a data set.
    pub fn read_trailer(&mut self) -> Result<Dataset, ReadError> {
        let mut ds = Dataset::new();
        let path = TagPath::default();
        if let Some(px) = self.read_elements(&mut ds, None, &path, 0, true)? {
            return Err(self.malformed(&path.child(px.tag), "a second pixel data element"));
        }
        Ok(ds)
    }

    /// The encoding of the data set being read.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }
}

/// True for VRs with a reserved field and a 4-byte length in explicit VR encodings.
pub(crate) fn has_long_length(vr: VR) -> bool {
    matches!(
        vr,
        VR::OB
            | VR::OD
            | VR::OF
            | VR::OL
            | VR::OV
            | VR::OW
            | VR::SQ
            | VR::SV
            | VR::UC
            | VR::UN
            | VR::UR
            | VR::UT
            | VR::UV
    )
}

/// The VR of an element in an implicit VR data set.
fn implicit_vr(tag: Tag) -> VR {
    if tag.group() % 2 == 1 {
        if (0x0010..=0x00FF).contains(&tag.element()) {
            VR::LO // private creator
        } else {
            VR::UN
        }
    } else if tag.element() == 0 {
        VR::UL // group length
    } else {
        dict::vr_of(tag).unwrap_or(VR::UN)
    }
}

/// Walks the items of encapsulated pixel data that starts at `start` in a file of `len`
/// bytes, reading only item headers, and returns the offset just after the sequence
/// delimiter. The reader's position is left anywhere.
pub fn end_of_fragments(
    reader: &mut (impl Read + std::io::Seek),
    start: u64,
    len: u64,
    enc: Encoding,
    path: &TagPath,
) -> Result<u64, ReadError> {
    let mut pos = start;
    loop {
        reader.seek(std::io::SeekFrom::Start(pos))?;
        let mut b = [0u8; 8];
        reader
            .read_exact(&mut b)
            .map_err(|_| ReadError::Truncated {
                what: "pixel data fragments",
                path: path.clone(),
                offset: pos,
            })?;
        let (g, e, l) = if enc.big_endian {
            (
                u16::from_be_bytes([b[0], b[1]]),
                u16::from_be_bytes([b[2], b[3]]),
                u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            )
        } else {
            (
                u16::from_le_bytes([b[0], b[1]]),
                u16::from_le_bytes([b[2], b[3]]),
                u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            )
        };
        pos += 8;
        match Tag(g, e) {
            SEQ_END => return Ok(pos),
            ITEM if l != UNDEFINED && (l as u64) <= len.saturating_sub(pos) => pos += l as u64,
            ITEM if l != UNDEFINED => {
                return Err(ReadError::LengthExceeds {
                    path: path.clone(),
                    length: l as u64,
                    left: len.saturating_sub(pos),
                    offset: pos,
                });
            }
            _ => {
                return Err(ReadError::Malformed {
                    path: path.clone(),
                    reason: "expected a pixel data fragment",
                    offset: pos,
                });
            }
        }
    }
}
