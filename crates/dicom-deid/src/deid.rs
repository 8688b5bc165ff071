//! The de-identifier: profile + options + key, applied to one file or one data set.

use crate::actions::{ActionCounts, Actions, DatePolicy, Rejection};
use crate::dataset::{Dataset, Element, Value};
use crate::io::{
    self, BodyWriter, Encoding, PixelHeader, ReadError, Source, TagPath, TransferSyntax,
};
use crate::keys::Key;
use crate::profile::{DeidOption, Profile};
use dicom_core::{Tag, VR};
use serde::Serialize;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Our Implementation Class UID (a UUID-derived root, PS3.5 B.2).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.332148743605495495983798281682925646387";
/// Our Implementation Version Name (at most 16 characters).
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("DICOM_DEID_", env!("CARGO_PKG_VERSION"));

const SOP_CLASS_UID: Tag = Tag(0x0008, 0x0016);
const SOP_INSTANCE_UID: Tag = Tag(0x0008, 0x0018);
const STUDY_INSTANCE_UID: Tag = Tag(0x0020, 0x000D);
const SERIES_INSTANCE_UID: Tag = Tag(0x0020, 0x000E);
const MEDIA_STORAGE_SOP_CLASS_UID: Tag = Tag(0x0002, 0x0002);
const MEDIA_STORAGE_SOP_INSTANCE_UID: Tag = Tag(0x0002, 0x0003);
const PATIENT_IDENTITY_REMOVED: Tag = Tag(0x0012, 0x0062);
const DEIDENTIFICATION_METHOD: Tag = Tag(0x0012, 0x0063);
const DEIDENTIFICATION_METHOD_CODE_SEQUENCE: Tag = Tag(0x0012, 0x0064);
const LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED: Tag = Tag(0x0028, 0x0303);
const DIRECTORY_RECORD_SEQUENCE: Tag = Tag(0x0004, 0x1220);
const MEDIA_STORAGE_DIRECTORY: &str = "1.2.840.10008.1.3.10";
/// The code of the Basic Application Confidentiality Profile (CID 7050).
pub const BASIC_PROFILE_CODE: &str = "113100";
const BASIC_PROFILE_MEANING: &str = "Basic Application Confidentiality Profile";

/// Why a file was not de-identified. Messages name the place, never a patient value.
#[derive(Debug, thiserror::Error)]
pub enum DeidError {
    /// The input could not be read as DICOM.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The file was read but must not be released.
    #[error("rejected: {0}")]
    Rejected(#[from] Rejection),
    /// A DICOMDIR: its offsets and records are not de-identified here.
    #[error("a DICOMDIR (media directory) is not de-identified; regenerate it for the output")]
    Dicomdir,
    /// The input file could not be opened.
    #[error("cannot open the input: {0}")]
    Open(std::io::Error),
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Write(std::io::Error),
    /// The pixel data could not be cleaned (Clean Pixel Data option).
    #[error(transparent)]
    Pixel(#[from] crate::pixels::PixelError),
}

impl DeidError {
    /// A short, stable name for the kind of error (for reports and summaries).
    pub fn kind(&self) -> &'static str {
        match self {
            DeidError::Read(ReadError::NotDicom(_)) => "not-dicom",
            DeidError::Read(ReadError::Truncated { .. }) => "truncated",
            DeidError::Read(ReadError::LengthExceeds { .. }) => "length-exceeds-file",
            DeidError::Read(ReadError::UnsupportedTransferSyntax(_)) => {
                "unsupported-transfer-syntax"
            }
            DeidError::Read(ReadError::TooDeep(_)) => "too-deep",
            DeidError::Read(ReadError::Malformed { .. }) => "malformed",
            DeidError::Read(ReadError::Io(_)) => "read-error",
            DeidError::Read(ReadError::Output(_)) | DeidError::Write(_) => "write-error",
            DeidError::Rejected(_) => "rejected-by-policy",
            DeidError::Dicomdir => "dicomdir",
            DeidError::Open(_) => "open-error",
            DeidError::Pixel(e) => e.kind(),
        }
    }
}

/// What was done to one file. Holds no patient value: only counts, codes, and the new
/// (pseudonymous) identifiers that output paths and reports may use.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Outcome {
    /// Actions carried out, by name, over the whole data set (sequences included).
    pub actions: ActionCounts,
    /// CID 7050 codes recorded in the De-identification Method Code Sequence.
    pub codes: Vec<String>,
    /// The keyed pseudonym of the original Patient ID (absent when the file had none).
    pub patient_pseudonym: Option<String>,
    /// The new Study Instance UID.
    pub study_uid: Option<String>,
    /// The new Series Instance UID.
    pub series_uid: Option<String>,
    /// The new SOP Instance UID.
    pub sop_instance_uid: Option<String>,
    /// The transfer syntax of the output (the input's; files without meta get one).
    pub transfer_syntax: String,
    /// Bytes of pixel data streamed through unchanged.
    pub pixel_bytes: u64,
    /// What the Clean Pixel Data option did (absent when it left the pixels alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixels: Option<crate::pixels::PixelOutcome>,
}

/// Builds a [`Deidentifier`].
#[derive(Debug, Clone, Default)]
pub struct DeidentifierBuilder {
    profile: Option<Profile>,
    options: Vec<DeidOption>,
    key: Option<Key>,
    date_policy: DatePolicy,
    pixels: crate::pixels::PixelCleaner,
}

impl DeidentifierBuilder {
    /// The profile (default: the embedded basic profile).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = Some(profile);
        self
    }

    /// Adds an option to the profile's own.
    pub fn option(mut self, option: DeidOption) -> Self {
        self.options.push(option);
        self
    }

    /// The secret key (required).
    pub fn key(mut self, key: Key) -> Self {
        self.key = Some(key);
        self
    }

    /// What to do when dates must be shifted but cannot be (default: remove them).
    pub fn date_policy(mut self, policy: DatePolicy) -> Self {
        self.date_policy = policy;
        self
    }

    /// The pixel rules used by the Clean Pixel Data option (default: the shipped
    /// `profiles/pixel-rules.toml`; to add to them, pass
    /// `PixelRules::default_rules().extend(mine)`).
    pub fn pixel_rules(mut self, rules: crate::pixels::PixelRules) -> Self {
        self.pixels.rules = rules;
        self
    }

    /// What the Clean Pixel Data option does with an image that needs cleaning and that
    /// no rule matches (default: reject).
    pub fn burned_in_policy(mut self, policy: crate::pixels::BurnedInPolicy) -> Self {
        self.pixels.policy = policy;
        self
    }

    /// The de-identifier; fails when no key was given or the options conflict.
    pub fn build(self) -> Result<Deidentifier, BuildError> {
        let key = self.key.ok_or(BuildError::NoKey)?;
        let profile = self
            .profile
            .unwrap_or_else(Profile::basic)
            .with_options(self.options)?;
        Ok(Deidentifier {
            profile,
            key,
            date_policy: self.date_policy,
            pixels: self.pixels,
        })
    }
}

/// Why a [`Deidentifier`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No key was given.
    #[error("a key is required (Key::from_file, or Key::random for a one-off run)")]
    NoKey,
    /// The profile or its options are invalid.
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
}

/// Applies a profile, its options and a key to DICOM files and data sets.
#[derive(Debug, Clone)]
pub struct Deidentifier {
    profile: Profile,
    key: Key,
    date_policy: DatePolicy,
    pixels: crate::pixels::PixelCleaner,
}

impl Deidentifier {
    /// A builder.
    pub fn builder() -> DeidentifierBuilder {
        DeidentifierBuilder::default()
    }

    /// The effective profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// De-identifies a data set in memory (without file meta): the profile, the markers.
    pub fn deidentify(&self, ds: &mut Dataset) -> Result<Outcome, DeidError> {
        let mut actions = Actions::new(&self.profile, &self.key, self.date_policy, ds);
        let mut outcome = self.run(&mut actions, ds)?;
        outcome.actions = actions.counts().clone();
        Ok(outcome)
    }

    /// Applies the profile (through `actions`, prepared from the original data set) and
    /// adds the markers.
    fn run(&self, actions: &mut Actions, ds: &mut Dataset) -> Result<Outcome, DeidError> {
        if ds.get(DIRECTORY_RECORD_SEQUENCE).is_some()
            || ds.get_str(SOP_CLASS_UID) == Some(MEDIA_STORAGE_DIRECTORY)
        {
            return Err(DeidError::Dicomdir);
        }
        let patient_pseudonym = ds
            .get_str(crate::actions::PATIENT_ID)
            .filter(|s| !s.is_empty())
            .map(|id| self.key.pseudonym(id));
        actions.apply(ds, &TagPath::default())?;
        let codes = self.add_markers(ds, actions.dates_shifted);
        Ok(Outcome {
            codes,
            patient_pseudonym,
            study_uid: ds
                .get_str(STUDY_INSTANCE_UID)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            series_uid: ds
                .get_str(SERIES_INSTANCE_UID)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            sop_instance_uid: ds
                .get_str(SOP_INSTANCE_UID)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            ..Outcome::default()
        })
    }

    /// The CID 7050 codes that describe this de-identification.
    pub fn codes(&self) -> Vec<(String, String)> {
        let mut codes = vec![(
            BASIC_PROFILE_CODE.to_string(),
            BASIC_PROFILE_MEANING.to_string(),
        )];
        codes.extend(
            self.profile
                .options()
                .into_iter()
                .map(|o| (o.code().to_string(), o.meaning().to_string())),
        );
        codes
    }

    fn add_markers(&self, ds: &mut Dataset, dates_shifted: bool) -> Vec<String> {
        let codes = self.codes();
        ds.put(Element::text(PATIENT_IDENTITY_REMOVED, VR::CS, "YES"));
        let method: Vec<&str> = codes.iter().map(|(_, meaning)| meaning.as_str()).collect();
        ds.put(Element::text(
            DEIDENTIFICATION_METHOD,
            VR::LO,
            &method.join("\\"),
        ));
        // Keep the codes of an earlier de-identification, add ours once.
        let mut items = match ds
            .remove(DEIDENTIFICATION_METHOD_CODE_SEQUENCE)
            .map(|e| e.value)
        {
            Some(Value::Items(items)) => items,
            _ => Vec::new(),
        };
        for (code, meaning) in &codes {
            let present = items
                .iter()
                .any(|i| i.get_str(Tag(0x0008, 0x0100)) == Some(code.as_str()));
            if !present {
                let mut item = Dataset::new();
                item.put(Element::text(Tag(0x0008, 0x0100), VR::SH, code));
                item.put(Element::text(Tag(0x0008, 0x0102), VR::SH, "DCM"));
                item.put(Element::text(Tag(0x0008, 0x0104), VR::LO, meaning));
                items.push(item);
            }
        }
        ds.put(Element::sequence(
            DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
            items,
        ));
        let temporal = if self.profile.has(DeidOption::RetainLongFullDates) {
            "UNMODIFIED"
        } else if dates_shifted {
            "MODIFIED"
        } else {
            "REMOVED"
        };
        ds.put(Element::text(
            LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
            VR::CS,
            temporal,
        ));
        codes.into_iter().map(|(code, _)| code).collect()
    }

    /// The File Meta Information of the output.
    fn output_meta(&self, input_meta: &Dataset, ds: &Dataset, ts: &TransferSyntax) -> Dataset {
        let mut meta = Dataset::new();
        meta.put(Element::bytes(Tag(0x0002, 0x0001), VR::OB, vec![0u8, 1]));
        let sop_class = ds
            .get_str(SOP_CLASS_UID)
            .or_else(|| input_meta.get_str(MEDIA_STORAGE_SOP_CLASS_UID))
            .filter(|u| !u.is_empty());
        if let Some(uid) = sop_class {
            meta.put(Element::text(MEDIA_STORAGE_SOP_CLASS_UID, VR::UI, uid));
        }
        let sop_instance = match ds.get_str(SOP_INSTANCE_UID).filter(|u| !u.is_empty()) {
            Some(uid) => Some(uid.to_string()),
            None => input_meta
                .get_str(MEDIA_STORAGE_SOP_INSTANCE_UID)
                .filter(|u| !u.is_empty())
                .map(|u| self.key.uid(u)),
        };
        if let Some(uid) = sop_instance {
            meta.put(Element::text(MEDIA_STORAGE_SOP_INSTANCE_UID, VR::UI, &uid));
        }
        meta.put(Element::text(
            io::tags::TRANSFER_SYNTAX_UID,
            VR::UI,
            &ts.uid,
        ));
        meta.put(Element::text(
            Tag(0x0002, 0x0012),
            VR::UI,
            IMPLEMENTATION_CLASS_UID,
        ));
        meta.put(Element::text(
            Tag(0x0002, 0x0013),
            VR::SH,
            IMPLEMENTATION_VERSION_NAME,
        ));
        meta
    }

    /// De-identifies `input` into `output`, streaming the pixel data. The output is written
    /// to a temporary file beside it and renamed into place only when complete, so a failed
    /// or killed run never leaves a partial file. The input is only read.
    pub fn deidentify_file(&self, input: &Path, output: &Path) -> Result<Outcome, DeidError> {
        let tmp = io::temp_beside(output).map_err(DeidError::Write)?;
        let outcome = self.deidentify_into(input, tmp.as_file())?;
        tmp.persist(output).map_err(|e| DeidError::Write(e.error))?;
        Ok(outcome)
    }

    /// De-identifies the file `input` into the open file `output` (for callers that manage
    /// their own temporary files). Pixel data is copied file to file by the kernel when the
    /// transfer syntax allows it. On error, `output` holds a partial file to discard.
    pub fn deidentify_into(&self, input: &Path, output: &File) -> Result<Outcome, DeidError> {
        let file = File::open(input).map_err(DeidError::Open)?;
        let len = file.metadata().map_err(DeidError::Open)?.len();
        let out = BufWriter::with_capacity(256 * 1024, output);
        let src = Source::new(BufReader::with_capacity(64 * 1024, &file), Some(len));
        self.process(src, out, |src, px, body| match body {
            // Plain output to a file: the kernel copies the pixel data file to file.
            BodyWriter::Plain(out) => copy_pixel_data_between_files(src, px, &file, len, out),
            body => src.copy_pixel_data(px, body),
        })
    }

    /// De-identifies a DICOM stream (`len`: its size when known, which bounds every declared
    /// length) into `out`. On error, what was written to `out` must be discarded.
    pub fn deidentify_stream<R: Read, W: Write>(
        &self,
        input: R,
        len: Option<u64>,
        out: W,
    ) -> Result<Outcome, DeidError> {
        self.process(Source::new(input, len), out, |src, px, body| {
            src.copy_pixel_data(px, body)
        })
    }

    /// Reads, de-identifies and writes one file; `copy_pixels` moves the pixel data.
    fn process<'a, W: Write>(
        &self,
        mut src: Source<'a>,
        out: W,
        copy_pixels: impl FnOnce(
            &mut Source<'a>,
            &PixelHeader,
            &mut BodyWriter<W>,
        ) -> Result<u64, ReadError>,
    ) -> Result<Outcome, DeidError> {
        let mut header = src.read_header()?;
        if let Some(px) = &header.pixel {
            if px.length.is_none() != header.transfer_syntax.is_encapsulated() {
                return Err(ReadError::Malformed {
                    path: TagPath::default().child(px.tag),
                    reason: "pixel data encoding does not match the transfer syntax",
                    offset: src.position(),
                }
                .into());
            }
        }
        // Pixel rules read the original header (the profile may remove what they test).
        let pixel_decision = if self.profile.has(DeidOption::CleanPixelData) {
            self.pixels.decide(&header)?
        } else {
            crate::pixels::Decision::Untouched
        };
        let mut actions = Actions::new(&self.profile, &self.key, self.date_policy, &header.dataset);
        let mut outcome = self.run(&mut actions, &mut header.dataset)?;
        let mut ts = header.transfer_syntax.clone();
        let mut pixel_element = None;
        match (pixel_decision, &header.pixel) {
            (crate::pixels::Decision::Redact(plan), Some(px)) => {
                let value = src.read_pixel_value(px)?;
                let redacted = plan.apply(value, px, &ts, &mut header.dataset)?;
                ts = redacted.transfer_syntax;
                outcome.pixels = Some(redacted.outcome);
                pixel_element = Some(redacted.element);
            }
            (crate::pixels::Decision::Warn(pixel_outcome), _) => {
                outcome.pixels = Some(pixel_outcome)
            }
            _ => {}
        }
        let meta = self.output_meta(&header.meta, &header.dataset, &ts);
        let mut out = out;
        io::write_file_start(&mut out, &meta).map_err(DeidError::Write)?;
        let enc = Encoding {
            deflated: false,
            ..ts.encoding
        };
        let mut body = BodyWriter::new(out, ts.encoding);
        io::write_dataset(&mut body, &header.dataset, enc).map_err(DeidError::Write)?;
        if let Some(px) = header.pixel {
            match &pixel_element {
                Some(element) => {
                    io::write_element(&mut body, element, enc).map_err(DeidError::Write)?
                }
                None => outcome.pixel_bytes = copy_pixels(&mut src, &px, &mut body)?,
            }
            let mut trailer = src.read_trailer()?;
            actions.apply(&mut trailer, &TagPath::default())?;
            io::write_dataset(&mut body, &trailer, enc).map_err(DeidError::Write)?;
        }
        body.finish()
            .and_then(|mut w| w.flush())
            .map_err(DeidError::Write)?;
        outcome.transfer_syntax = ts.uid;
        outcome.actions = actions.counts().clone();
        Ok(outcome)
    }
}

/// Copies the top-level pixel data from `input` (at the reader's position) to `out` with
/// `std::io::copy` between files, which Linux turns into `copy_file_range`: the bytes never
/// pass through user space. Encapsulated data is first walked item by item (headers only) to
/// find where it ends; every length is checked against the file size. The reader then
/// resumes after the pixel data, for whatever trails it.
fn copy_pixel_data_between_files<'a>(
    src: &mut Source<'a>,
    px: &PixelHeader,
    input: &'a File,
    len: u64,
    out: &mut BufWriter<&File>,
) -> Result<u64, ReadError> {
    use std::io::{Seek, SeekFrom};
    let start = src.position();
    let enc = src.encoding();
    let path = TagPath::default().child(px.tag);
    let mut reader = input;
    let end = match px.length {
        Some(n) => start + n as u64,
        None => io::end_of_fragments(&mut reader, start, len, enc, &path)?,
    };
    io::write_element_header(out, px.tag, px.vr, px.length.unwrap_or(u32::MAX), enc)
        .map_err(ReadError::Output)?;
    reader.seek(SeekFrom::Start(start))?;
    let copied = std::io::copy(&mut reader.take(end - start), out).map_err(ReadError::Output)?;
    if copied != end - start {
        return Err(ReadError::Truncated {
            what: "pixel data",
            path,
            offset: start + copied,
        });
    }
    src.resume_at(BufReader::with_capacity(64 * 1024, input), end);
    Ok(copied)
}

/// Why a dicom-rs object could not be de-identified.
#[cfg(feature = "dicom-object")]
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// dicom-rs could not encode the input object.
    #[error("cannot encode the object: {0}")]
    Encode(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The de-identification failed.
    #[error(transparent)]
    Deid(#[from] DeidError),
    /// dicom-rs could not read the de-identified output back.
    #[error("cannot decode the de-identified object: {0}")]
    Decode(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[cfg(feature = "dicom-object")]
impl Deidentifier {
    /// De-identifies a dicom-rs file object (the `dicom-object` crate's in-memory model),
    /// for programs that already hold one: it is encoded with dicom-rs, de-identified like a
    /// file, and decoded again. The input object is not changed.
    pub fn deidentify_object(
        &self,
        object: &dicom_object::DefaultDicomObject,
    ) -> Result<(dicom_object::DefaultDicomObject, Outcome), ObjectError> {
        let mut encoded = Vec::new();
        object
            .write_all(&mut encoded)
            .map_err(|e| ObjectError::Encode(Box::new(e)))?;
        let mut output = Vec::new();
        let outcome =
            self.deidentify_stream(&encoded[..], Some(encoded.len() as u64), &mut output)?;
        let decoded = dicom_object::OpenFileOptions::new()
            .read_preamble(dicom_object::file::ReadPreamble::Always)
            .from_reader(&output[..])
            .map_err(|e| ObjectError::Decode(Box::new(e)))?;
        Ok((decoded, outcome))
    }
}
