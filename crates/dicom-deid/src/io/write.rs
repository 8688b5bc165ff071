//! The writer: file preamble and meta, data sets in any of the three encodings, deflate.

use super::read::{UNDEFINED, has_long_length};
use super::tags::{ITEM, ITEM_END, SEQ_END};
use super::transfer::Encoding;
use crate::dataset::{Dataset, Element, Value};
use dicom_core::{Tag, VR};
use flate2::write::DeflateEncoder;
use std::io::{self, Write};

/// Writes an element header: tag, VR (explicit only) and length.
pub fn write_element_header(
    out: &mut dyn Write,
    tag: Tag,
    vr: VR,
    len: u32,
    enc: Encoding,
) -> io::Result<()> {
    let mut b = [0u8; 12];
    let n;
    let (g, e) = if enc.big_endian {
        (tag.group().to_be_bytes(), tag.element().to_be_bytes())
    } else {
        (tag.group().to_le_bytes(), tag.element().to_le_bytes())
    };
    b[0..2].copy_from_slice(&g);
    b[2..4].copy_from_slice(&e);
    let l32 = if enc.big_endian {
        len.to_be_bytes()
    } else {
        len.to_le_bytes()
    };
    let structural = tag.group() == 0xFFFE;
    if !enc.explicit || structural {
        b[4..8].copy_from_slice(&l32);
        n = 8;
    } else if has_long_length(vr) {
        b[4..6].copy_from_slice(&vr.to_bytes());
        b[8..12].copy_from_slice(&l32);
        n = 12;
    } else {
        b[4..6].copy_from_slice(&vr.to_bytes());
        let l16 = len as u16;
        b[6..8].copy_from_slice(&if enc.big_endian {
            l16.to_be_bytes()
        } else {
            l16.to_le_bytes()
        });
        n = 8;
    }
    out.write_all(&b[..n])
}

/// Writes one element and, for sequences, everything inside it.
pub fn write_element(out: &mut dyn Write, element: &Element, enc: Encoding) -> io::Result<()> {
    match &element.value {
        Value::Bytes(bytes) => {
            let len = u32::try_from(bytes.len())
                .ok()
                .filter(|&l| l != UNDEFINED)
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "value longer than 4 GiB")
                })?;
            // A short-length VR cannot carry more than 64 KiB in explicit syntaxes: use UN.
            let vr = if enc.explicit && !has_long_length(element.vr) && len > 0xFFFF {
                VR::UN
            } else {
                element.vr
            };
            write_element_header(out, element.tag, vr, len, enc)?;
            out.write_all(bytes)
        }
        Value::Items(items) => {
            // Items of a UN sequence are implicit VR little endian (PS3.5 6.2.2).
            let (vr, inner) = if element.vr == VR::UN && enc.explicit {
                (VR::UN, Encoding::IMPLICIT_LE)
            } else {
                (VR::SQ, enc)
            };
            write_element_header(out, element.tag, vr, UNDEFINED, enc)?;
            for item in items {
                write_element_header(out, ITEM, VR::UN, UNDEFINED, inner)?;
                write_dataset(out, item, inner)?;
                write_element_header(out, ITEM_END, VR::UN, 0, inner)?;
            }
            write_element_header(out, SEQ_END, VR::UN, 0, inner)
        }
        Value::Fragments(fragments) => {
            write_element_header(out, element.tag, element.vr, UNDEFINED, enc)?;
            for fragment in fragments {
                write_element_header(out, ITEM, VR::UN, fragment.len() as u32, enc)?;
                out.write_all(fragment)?;
            }
            write_element_header(out, SEQ_END, VR::UN, 0, enc)
        }
    }
}

/// Writes every element of a data set, in tag order.
pub fn write_dataset(out: &mut dyn Write, ds: &Dataset, enc: Encoding) -> io::Result<()> {
    for element in ds.elements() {
        write_element(out, element, enc)?;
    }
    Ok(())
}

/// Writes the 128-byte zero preamble, `DICM` and the File Meta Information group with a
/// freshly computed group length. Elements of `meta` outside group 0002 are ignored.
pub fn write_file_start(out: &mut dyn Write, meta: &Dataset) -> io::Result<()> {
    let mut body = Vec::with_capacity(256);
    for element in meta.elements() {
        if element.tag.group() == 0x0002 && element.tag.element() != 0x0000 {
            write_element(&mut body, element, Encoding::EXPLICIT_LE)?;
        }
    }
    out.write_all(&[0u8; 128])?;
    out.write_all(b"DICM")?;
    let group_length = Element::bytes(
        Tag(0x0002, 0x0000),
        VR::UL,
        (body.len() as u32).to_le_bytes(),
    );
    write_element(out, &group_length, Encoding::EXPLICIT_LE)?;
    out.write_all(&body)
}

/// The sink for the data set: plain, or a raw deflate stream for deflated transfer syntaxes.
pub enum BodyWriter<W: Write> {
    /// Written as is.
    Plain(W),
    /// Compressed with raw deflate.
    Deflate(DeflateEncoder<W>),
}

impl<W: Write> BodyWriter<W> {
    /// A body writer for the given encoding.
    pub fn new(out: W, enc: Encoding) -> Self {
        if enc.deflated {
            BodyWriter::Deflate(DeflateEncoder::new(out, flate2::Compression::default()))
        } else {
            BodyWriter::Plain(out)
        }
    }

    /// Finishes the stream and returns the underlying writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            BodyWriter::Plain(w) => Ok(w),
            BodyWriter::Deflate(d) => d.finish(),
        }
    }
}

impl<W: Write> Write for BodyWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            BodyWriter::Plain(w) => w.write(buf),
            BodyWriter::Deflate(d) => d.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            BodyWriter::Plain(w) => w.flush(),
            BodyWriter::Deflate(d) => d.flush(),
        }
    }
}
