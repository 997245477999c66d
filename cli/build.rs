//! Bundles the sample reports that `rampart serve` ingests into an empty store, so a fresh
//! install shows data without any file at hand.

use std::path::Path;

/// Sample folders, relative to the workspace root: real reports from the fixture corpus
/// (sources and licences in `tests/fixtures/corpus/MANIFEST.md`).
const SAMPLE_DIRS: [&str; 3] = [
    "tests/fixtures/corpus/email",
    "tests/fixtures/corpus/tlsrpt",
    "tests/fixtures/corpus/aggregate/cry-inc",
];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in SAMPLE_DIRS {
        let dir = root.join(dir);
        println!("cargo::rerun-if-changed={}", dir.display());
        collect(&dir, &mut files);
    }
    files.sort();
    let mut code = String::from("&[\n");
    for path in &files {
        let name = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        let abs = path.canonicalize().unwrap_or_else(|_| path.clone());
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            abs.display().to_string()
        ));
    }
    code.push(']');
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("samples.rs");
    std::fs::write(out, code).expect("write samples.rs");
}

fn collect(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
