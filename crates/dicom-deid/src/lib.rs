//! De-identification of DICOM files per DICOM PS3.15 Annex E.
#![warn(missing_docs)]

pub mod dataset;
pub mod dict;
pub mod kanon;
