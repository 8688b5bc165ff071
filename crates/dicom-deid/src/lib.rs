//! De-identification of DICOM files per DICOM PS3.15 Annex E.
#![warn(missing_docs)]

pub mod actions;
pub mod dataset;
pub mod dates;
pub mod deid;
pub mod dict;
pub mod io;
pub mod keys;
pub mod pixels;
pub mod profile;

pub use deid::{DeidError, Deidentifier, DeidentifierBuilder, Outcome};
pub use keys::Key;
pub use pixels::{BurnedInPolicy, PixelOutcome, PixelRules};
pub use profile::{Action, DeidOption, Profile};
