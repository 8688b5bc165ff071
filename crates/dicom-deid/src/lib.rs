//! De-identification of DICOM files per DICOM PS3.15 Annex E.
//!
//! `dicom-deid` applies the Basic Application Level Confidentiality Profile and its
//! options (generated from the standard's Table E.1-1 and E.3.10-1) to DICOM files:
//! remove / empty / dummy / keep / clean, keyed UID remapping and pseudonyms (HMAC-SHA256
//! under a secret key, so the same key gives the same output on every machine), per-patient
//! date shifting, recursively through every sequence, private attributes removed unless on
//! the safe list, and anything unknown removed or rejected (fail closed).
//!
//! Files are streamed: the header is parsed up to the pixel data, de-identified and written,
//! and the pixel data is copied through without being decoded or held in memory. Every
//! declared length is checked against the bytes actually left, so malformed or hostile
//! files give a typed [`DeidError`] instead of a panic or a huge allocation.
//!
//! # Example
//!
//! ```
//! use dicom_deid::dataset::{Dataset, Element};
//! use dicom_deid::{DeidOption, Deidentifier, Key};
//! use dicom_core::{Tag, VR};
//!
//! let deid = Deidentifier::builder()
//!     .key(Key::from_bytes(b"a secret key of at least 16 bytes")?)
//!     .option(DeidOption::RetainLongModifiedDates)
//!     .build()?;
//!
//! let mut ds = Dataset::new();
//! ds.put(Element::text(Tag(0x0010, 0x0010), VR::PN, "DOE^JANE"));
//! ds.put(Element::text(Tag(0x0010, 0x0020), VR::LO, "MRN0012345"));
//! ds.put(Element::text(Tag(0x0008, 0x0020), VR::DA, "20240301"));
//! ds.put(Element::text(Tag(0x0020, 0x000D), VR::UI, "1.2.826.0.1.3680043.99.2"));
//!
//! let outcome = deid.deidentify(&mut ds)?;
//!
//! assert_eq!(ds.get_str(Tag(0x0010, 0x0010)), Some(""));          // name emptied
//! assert_ne!(ds.get_str(Tag(0x0010, 0x0020)), Some("MRN0012345"));  // keyed pseudonym
//! assert_ne!(ds.get_str(Tag(0x0008, 0x0020)), Some("20240301"));    // date shifted
//! assert!(ds.get_str(Tag(0x0020, 0x000D)).unwrap().starts_with("2.25.")); // UID remapped
//! assert_eq!(ds.get_str(Tag(0x0012, 0x0062)), Some("YES"));         // Patient Identity Removed
//! assert!(outcome.codes.contains(&"113107".to_string()));           // option code recorded
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! For files, [`Deidentifier::deidentify_file`] writes the output atomically (temporary
//! file, then rename): a failed or killed run never leaves a partial file. Programs that
//! hold a dicom-rs object use `Deidentifier::deidentify_object` (feature `dicom-object`,
//! on by default).
//!
//! # Modules
//! - [`profile`]: the PS3.15 tables, options and user profiles: which action each attribute gets;
//! - [`actions`]: carrying the actions out over a data set;
//! - [`keys`]: the secret key and what is derived from it (UIDs, pseudonyms, date offsets);
//! - [`dates`]: date shifting;
//! - [`io`]: the bounded, streaming reader and writer; [`dataset`]: the header model;
//! - [`deid`]: the [`Deidentifier`] that ties them together;
//! - [`batch`]: the tree engine behind `deid run`;
//! - [`kanon`]: k-anonymity with l-diversity for tables; [`table`]: the header table of a
//!   DICOM tree; [`kanon_release`]: k-anonymity of a de-identified tree, written back into
//!   its files.
#![warn(missing_docs)]

pub mod actions;
pub mod batch;
pub mod dataset;
pub mod dates;
pub mod deid;
pub mod dict;
pub mod io;
pub mod kanon;
pub mod kanon_release;
pub mod keys;
pub mod pixels;
pub mod profile;
pub mod table;

pub use deid::{DeidError, Deidentifier, DeidentifierBuilder, Outcome};
pub use keys::Key;
pub use pixels::{BurnedInPolicy, PixelOutcome, PixelRules};
pub use profile::{Action, DeidOption, Profile};
