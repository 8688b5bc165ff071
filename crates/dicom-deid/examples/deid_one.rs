//! De-identifies one file with the basic profile and a fixed test key:
//! `cargo run --example deid_one -- IN OUT [OPTION...]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut b = dicom_deid::Deidentifier::builder()
        .key(dicom_deid::Key::from_bytes(b"example-key-0123456789abcdef").unwrap());
    for o in &args[3..] {
        b = b.option(o.parse().unwrap());
    }
    match b
        .build()
        .unwrap()
        .deidentify_file(args[1].as_ref(), args[2].as_ref())
    {
        Ok(o) => println!("{}", serde_json_like(&o.actions)),
        Err(e) => println!("error: {e}"),
    }
}
fn serde_json_like(m: &std::collections::BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
