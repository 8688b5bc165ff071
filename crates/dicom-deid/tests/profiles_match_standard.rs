//! The checked-in `profiles/*.toml` agree with the PS3.15 JSON tables row for row, so nobody
//! hand-edits the standard. Regenerate with `cargo run -p xtask -- gen-profiles`.

mod common;

use dicom_deid::profile::tables;
use serde_json::Value;

fn json(name: &str) -> Value {
    let path = common::shared_dir().join("ps3.15").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("readable")).expect("valid JSON")
}

#[test]
fn basic_profile_matches_table_e1_1() {
    let std = json("confidentiality-profile.json");
    let rows = std["rows"].as_array().unwrap();
    let (basic, _) = tables();
    assert_eq!(rows.len(), std["row_count"].as_u64().unwrap() as usize);
    assert_eq!(basic.attribute.len(), rows.len(), "row count");
    assert_eq!(
        basic.source["source_sha256"].as_str(),
        std["source_sha256"].as_str()
    );
    for (i, (ours, theirs)) in basic.attribute.iter().zip(rows).enumerate() {
        assert_eq!(ours.tag, theirs["tag"].as_str().unwrap(), "row {i}");
        assert_eq!(ours.name, theirs["name"].as_str().unwrap(), "row {i}");
        assert_eq!(
            ours.retired,
            theirs["retired"].as_bool().unwrap(),
            "row {i}"
        );
        assert_eq!(
            ours.in_std_comp_iod,
            theirs["in_std_comp_iod"].as_bool().unwrap(),
            "row {i}"
        );
        assert_eq!(
            ours.basic,
            theirs["basic_profile"].as_str().unwrap(),
            "row {i}"
        );
        let columns: Vec<&str> = std["columns"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["field"].as_str())
            .filter(|f| f.starts_with("retain_") || f.starts_with("clean_"))
            .collect();
        assert_eq!(columns.len(), 10);
        for col in &columns {
            assert_eq!(
                ours.options.get(*col).map(String::as_str),
                theirs[*col].as_str(),
                "row {i} column {col}"
            );
        }
        assert!(
            ours.options.keys().all(|k| columns.contains(&k.as_str())),
            "row {i}: unknown column"
        );
    }
}

#[test]
fn safe_private_matches_table_e3_10_1() {
    let std = json("safe-private-attributes.json");
    let rows = std["rows"].as_array().unwrap();
    let (_, safe) = tables();
    assert_eq!(safe.private.len(), rows.len());
    assert_eq!(rows.len(), 479);
    for (i, (ours, theirs)) in safe.private.iter().zip(rows).enumerate() {
        assert_eq!(
            ours.element,
            theirs["data_element"].as_str().unwrap(),
            "row {i}"
        );
        assert_eq!(
            ours.creator,
            theirs["private_creator"].as_str().unwrap(),
            "row {i}"
        );
        assert_eq!(ours.vr.as_deref(), theirs["vr"].as_str(), "row {i}");
        assert_eq!(ours.vm, theirs["vm"].as_str().unwrap(), "row {i}");
        assert_eq!(ours.meaning, theirs["meaning"].as_str().unwrap(), "row {i}");
    }
}
