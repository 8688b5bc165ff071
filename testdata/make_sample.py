#!/usr/bin/env python3
"""Writes testdata/sample/: a few tiny DICOM files with FAKE PHI (deterministic output).

Run once from the repository root: python3 testdata/make_sample.py
Then try: cargo run --release -p deid-cli -- run testdata/sample out/
"""
from pathlib import Path

from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

ROOT = Path(__file__).resolve().parent / "sample"
CT = "1.2.840.10008.5.1.4.1.1.2"
BASE = "1.2.826.0.1.3680043.10.999"

PATIENTS = [
    ("DOE^JANE", "MRN-0001", "19700101", "F"),
    ("SMITH^JOHN", "MRN-0002", "19650315", "M"),
]


def make(path: Path, patient, study: int, series: int, instance: int):
    name, pid, birth, sex = patient
    sop = f"{BASE}.{study}.{series}.{instance}"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = f"{BASE}.0"
    meta.ImplementationVersionName = "SAMPLE_GEN"
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = f"{BASE}.{study}"
    ds.SeriesInstanceUID = f"{BASE}.{study}.{series}"
    ds.StudyDate = "20240131"
    ds.StudyTime = "101500"
    ds.AccessionNumber = f"ACC{study:04d}"
    ds.Modality = "CT"
    ds.InstitutionName = "General Hospital of Springfield"
    ds.ReferringPhysicianName = "HOUSE^GREGORY"
    ds.StudyDescription = f"CT chest for {name.replace('^', ' ').title()}"
    ds.PatientName = name
    ds.PatientID = pid
    ds.PatientBirthDate = birth
    ds.PatientSex = sex
    ds.InstanceNumber = instance
    ds.Rows = 8
    ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes((instance * 16 + i) % 256 for i in range(64))
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def main():
    make(ROOT / "DOE_JANE" / "CT_CHEST" / "DOE_JANE_1.dcm", PATIENTS[0], 1, 1, 1)
    make(ROOT / "DOE_JANE" / "CT_CHEST" / "DOE_JANE_2.dcm", PATIENTS[0], 1, 1, 2)
    make(ROOT / "DOE_JANE" / "CT_CHEST" / "DOE_JANE_3.dcm", PATIENTS[0], 1, 2, 1)
    make(ROOT / "SMITH_JOHN" / "SMITH_JOHN_1.dcm", PATIENTS[1], 2, 1, 1)
    make(ROOT / "SMITH_JOHN" / "SMITH_JOHN_2.dcm", PATIENTS[1], 2, 1, 2)
    (ROOT / "SMITH_JOHN" / "README.txt").write_text(
        "Not DICOM: the batch reports it as non-dicom and never copies it.\n"
    )


if __name__ == "__main__":
    main()
