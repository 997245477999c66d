//! Bundles the offline IP databases (`data/ipdb/`, fetched by `scripts/ipdb.sh`) into the
//! library when the `enrich` feature is on, so the ingest Lambda package carries them in its
//! one binary and reads them from memory with no file or network access.
//!
//! Without the files the build goes on, says so, and enrichment has no country or ASN:
//! `scripts/test` and `scripts/infra.sh` fetch them first, so every tested or deployed
//! binary has them (the wiring and ingest tests assert a known address's country).

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(rampart_ipdb)");
    println!("cargo::rerun-if-env-changed=RAMPART_IPDB_DIR");
    if std::env::var_os("CARGO_FEATURE_ENRICH").is_none() {
        return;
    }
    let dir = std::env::var_os("RAMPART_IPDB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"))
                .join("../../data/ipdb")
        });
    let country = dir.join("country.mmdb");
    let asn = dir.join("asn.mmdb");
    println!("cargo::rerun-if-changed={}", country.display());
    println!("cargo::rerun-if-changed={}", asn.display());
    if country.is_file() && asn.is_file() {
        println!("cargo::rustc-cfg=rampart_ipdb");
        println!(
            "cargo::rustc-env=RAMPART_IPDB_COUNTRY={}",
            country.display()
        );
        println!("cargo::rustc-env=RAMPART_IPDB_ASN={}", asn.display());
    } else {
        println!(
            "cargo::warning=no IP databases in {}: run scripts/ipdb.sh; ingest will store no country or ASN",
            dir.display()
        );
    }
}
