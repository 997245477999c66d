//! What validating a person's token costs `rampart serve` on every request: the keys
//! cached (as after the first request), one token per algorithm an issuer commonly uses.
//!
//!   cargo bench -p rampart-oidc

#[path = "../tests/issuer/mod.rs"]
mod issuer;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use issuer::{AUDIENCE, TestKey, now, start_issuer};
use rampart_oidc::Verifier;
use serde_json::json;

fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let keys = [
        (
            "RS256 (2048-bit: Cognito, Entra ID, Keycloak, Google)",
            TestKey::rs256(),
        ),
        ("ES256", TestKey::es256()),
        ("EdDSA", TestKey::ed25519()),
    ];
    let jwks = json!({"keys": keys.iter().map(|(alg, k)| k.jwk(alg)).collect::<Vec<_>>()});
    let issuer = rt.block_on(start_issuer(jwks, None));
    let verifier = Verifier::new(&issuer.url, AUDIENCE, &format!("{}/jwks", issuer.url));
    let claims = json!({"iss": issuer.url, "aud": AUDIENCE, "sub": "u-1", "exp": now() + 86_400,
        "email": "ann@example.com", "groups": ["rampart-readers", "rampart-admin"]});
    let mut group = c.benchmark_group("oidc/verify");
    group.throughput(Throughput::Elements(1));
    for (alg, key) in &keys {
        let token = key.sign(alg, &claims);
        rt.block_on(verifier.verify(&token)).expect("a valid token");
        group.bench_function(*alg, |b| {
            b.iter(|| rt.block_on(verifier.verify(&token)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
