//! Embeds the dashboard's files (`ui/`) for memory-serve: compressed with brotli in release
//! builds, as they are in debug builds (feature `force-embed`, so tests serve what ships).

fn main() {
    // memory-serve lists every file as a cargo warning unless told to be quiet.
    // SAFETY: the build script is single-threaded here.
    unsafe { std::env::set_var("MEMORY_SERVE_QUIET", "1") };
    let ui = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    memory_serve::load_directory(ui);
}
