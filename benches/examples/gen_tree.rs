//! Writes a generated PACS export tree: `cargo run --release -p deid-benches --example gen_tree -- DIR [PATIENTS]`.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("usage: gen_tree DIR [PATIENTS]");
    let patients = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(4);
    let stats = deid_benches::tree::generate(dir.as_ref(), patients).expect("tree written");
    println!(
        "{} DICOM files, {} others, {} bytes",
        stats.dicom_files, stats.other_files, stats.bytes
    );
}
