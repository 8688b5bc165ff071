//! Transfer syntaxes: how the data set after the file meta is encoded.

use super::ReadError;

/// The three properties of a transfer syntax that matter to the header codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    /// VRs are written in the stream (explicit) or looked up in the dictionary (implicit).
    pub explicit: bool,
    /// Numbers, tags and lengths are big-endian.
    pub big_endian: bool,
    /// The data set is a raw deflate stream.
    pub deflated: bool,
}

impl Encoding {
    /// Explicit VR Little Endian, the encoding of the file meta and most transfer syntaxes.
    pub const EXPLICIT_LE: Encoding = Encoding {
        explicit: true,
        big_endian: false,
        deflated: false,
    };
    /// Implicit VR Little Endian.
    pub const IMPLICIT_LE: Encoding = Encoding {
        explicit: false,
        big_endian: false,
        deflated: false,
    };
    /// Explicit VR Big Endian (retired).
    pub const EXPLICIT_BE: Encoding = Encoding {
        explicit: true,
        big_endian: true,
        deflated: false,
    };
}

/// A transfer syntax: its UID and how its data set is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSyntax {
    /// The Transfer Syntax UID.
    pub uid: String,
    /// How the data set is encoded.
    pub encoding: Encoding,
}

/// Implicit VR Little Endian.
pub const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
/// Explicit VR Little Endian.
pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
/// Explicit VR Big Endian.
pub const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";
/// Deflated Explicit VR Little Endian.
pub const DEFLATED_EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1.99";

impl TransferSyntax {
    /// The transfer syntax of a UID. Every standard transfer syntax other than implicit
    /// VR little endian, explicit VR big endian and deflate encodes its data set as explicit
    /// VR little endian; a private (non-`1.2.840.10008.`) syntax has an unknown encoding and
    /// is rejected (fail closed).
    pub fn from_uid(uid: &str) -> Result<TransferSyntax, ReadError> {
        let encoding = match uid {
            IMPLICIT_VR_LE => Encoding::IMPLICIT_LE,
            EXPLICIT_VR_BE => Encoding::EXPLICIT_BE,
            DEFLATED_EXPLICIT_VR_LE => Encoding {
                deflated: true,
                ..Encoding::EXPLICIT_LE
            },
            _ if uid.starts_with("1.2.840.10008.1.2.")
                && uid.len() <= 64
                && uid.bytes().all(|b| b.is_ascii_digit() || b == b'.') =>
            {
                Encoding::EXPLICIT_LE
            }
            _ => return Err(ReadError::UnsupportedTransferSyntax(sanitize_uid(uid))),
        };
        Ok(TransferSyntax {
            uid: uid.to_string(),
            encoding,
        })
    }

    /// The standard transfer syntax with this encoding (for files that have no file meta).
    pub fn for_encoding(encoding: Encoding) -> TransferSyntax {
        let uid = match (encoding.explicit, encoding.big_endian) {
            (false, _) => IMPLICIT_VR_LE,
            (true, true) => EXPLICIT_VR_BE,
            (true, false) => EXPLICIT_VR_LE,
        };
        TransferSyntax {
            uid: uid.to_string(),
            encoding,
        }
    }

    /// True when pixel data is encapsulated (compressed) under this syntax.
    pub fn is_encapsulated(&self) -> bool {
        !matches!(
            self.uid.as_str(),
            IMPLICIT_VR_LE | EXPLICIT_VR_LE | EXPLICIT_VR_BE | DEFLATED_EXPLICIT_VR_LE
        )
    }
}

/// A transfer syntax UID is not patient data, but a malformed one may be any bytes:
/// keep only UID characters and cap the length before it goes into an error message.
fn sanitize_uid(uid: &str) -> String {
    uid.chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_of_standard_syntaxes() {
        assert_eq!(
            TransferSyntax::from_uid(IMPLICIT_VR_LE).unwrap().encoding,
            Encoding::IMPLICIT_LE
        );
        assert_eq!(
            TransferSyntax::from_uid(EXPLICIT_VR_BE).unwrap().encoding,
            Encoding::EXPLICIT_BE
        );
        assert!(
            TransferSyntax::from_uid(DEFLATED_EXPLICIT_VR_LE)
                .unwrap()
                .encoding
                .deflated
        );
        let jpeg = TransferSyntax::from_uid("1.2.840.10008.1.2.4.50").unwrap();
        assert_eq!(jpeg.encoding, Encoding::EXPLICIT_LE);
        assert!(jpeg.is_encapsulated());
        assert!(TransferSyntax::from_uid("1.2.3.4").is_err());
    }
}
