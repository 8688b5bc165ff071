fn main() {
    eprintln!("usage: cargo run -p xtask -- gen-profiles [SHARED_PS315_DIR]");
}
