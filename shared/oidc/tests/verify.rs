//! The verifier against a real issuer on 127.0.0.1 (tests/issuer): a discovery document, a
//! JWK Set the test rotates, and tokens signed with ring's keys.

mod issuer;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use issuer::{AUDIENCE, TestKey, now, start_issuer};
use rampart_oidc::{Refusal, SetupError, Verifier};
use serde_json::{Value, json};

fn claims(issuer: &str) -> Value {
    json!({"iss": issuer, "aud": AUDIENCE, "sub": "reader-1", "exp": now() + 600,
           "iat": now(), "email": "reader@example.com", "groups": ["rampart-readers"]})
}

fn with(mut base: Value, change: Value) -> Value {
    for (k, v) in change.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

#[tokio::test]
async fn valid_tokens_pass_and_every_bad_one_is_refused_with_its_reason() {
    let key = TestKey::es256();
    let ed = TestKey::ed25519();
    let rsa = TestKey::rs256();
    let stranger = TestKey::es256();
    let jwks = json!({"keys": [
        key.jwk("k1"),
        ed.jwk("ed"),
        rsa.jwk("rsa"),
        // Left out, without spoiling the others: an encryption key, a shared secret, a type
        // nobody knows.
        {"kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
        {"kty": "XYZ", "kid": "future"},
    ]});
    let issuer = start_issuer(jwks, None).await;
    let (verifier, discovery) = Verifier::discover(&issuer.url, AUDIENCE).await.unwrap();
    assert_eq!(discovery.jwks_uri, format!("{}/jwks", issuer.url));
    assert_eq!(
        discovery.end_session_endpoint.as_deref(),
        Some(format!("{}/session/end", issuer.url).as_str())
    );
    assert_eq!(verifier.load_keys().await.unwrap(), 3);

    let good = claims(&issuer.url);
    let got = verifier.verify(&key.sign("k1", &good)).await.unwrap();
    assert_eq!(got["sub"], "reader-1");
    assert_eq!(got["groups"], json!(["rampart-readers"]));
    assert!(verifier.verify(&ed.sign("ed", &good)).await.is_ok());
    assert!(verifier.verify(&rsa.sign("rsa", &good)).await.is_ok());
    // A Cognito access token: no `aud`, the client in `client_id`.
    let access = with(good.clone(), json!({"aud": null, "client_id": AUDIENCE}));
    assert!(verifier.verify(&key.sign("k1", &access)).await.is_ok());
    // `aud` as a list naming the audience.
    let listed = with(good.clone(), json!({"aud": ["other", AUDIENCE]}));
    assert!(verifier.verify(&key.sign("k1", &listed)).await.is_ok());

    let refused = |change: Value| key.sign("k1", &with(good.clone(), change));
    let cases: Vec<(&str, String, Refusal)> = vec![
        (
            "expired",
            refused(json!({"exp": now() - 3600})),
            Refusal::Expired,
        ),
        (
            "expired within the leeway passes, beyond it not",
            refused(json!({"exp": now() - 120})),
            Refusal::Expired,
        ),
        (
            "not yet valid",
            refused(json!({"nbf": now() + 3600})),
            Refusal::NotYetValid,
        ),
        (
            "wrong audience",
            refused(json!({"aud": "someone-else"})),
            Refusal::WrongAudience,
        ),
        (
            "client_id does not count beside a wrong aud",
            refused(json!({"aud": "someone-else", "client_id": AUDIENCE})),
            Refusal::WrongAudience,
        ),
        (
            "no audience at all",
            refused(json!({"aud": null})),
            Refusal::WrongAudience,
        ),
        (
            "wrong issuer",
            refused(json!({"iss": "https://evil.example"})),
            Refusal::WrongIssuer,
        ),
        (
            "issuer with a trailing slash",
            refused(json!({"iss": format!("{}/", issuer.url)})),
            Refusal::WrongIssuer,
        ),
        (
            "no expiry",
            refused(json!({"exp": null})),
            Refusal::Invalid("Missing required claim: exp".into()),
        ),
        (
            "expiry as a string (CVE-2026-25537's type confusion)",
            refused(json!({"exp": "99999999999"})),
            Refusal::Invalid("Missing required claim: exp".into()),
        ),
        (
            "not-before as a string",
            refused(json!({"nbf": "99999999999"})),
            Refusal::Invalid("Invalid format for claim: nbf".into()),
        ),
        (
            "a key nobody published",
            stranger.sign("k1", &good),
            Refusal::BadSignature,
        ),
        (
            "an unknown key id",
            key.sign("k9", &good),
            Refusal::UnknownKey,
        ),
    ];
    for (what, token, expected) in cases {
        assert_eq!(verifier.verify(&token).await, Err(expected), "{what}");
    }

    // Unsigned: `alg: none` with an empty signature.
    let none = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        B64.encode(good.to_string())
    );
    assert_eq!(
        verifier.verify(&none).await,
        Err(Refusal::Algorithm("none".into()))
    );
    // A shared-secret algorithm, whatever the secret: never accepted.
    let hs = format!(
        "{}.{}.c2lnbmF0dXJl",
        B64.encode(json!({"alg": "HS256", "kid": "secret"}).to_string()),
        B64.encode(good.to_string())
    );
    assert_eq!(
        verifier.verify(&hs).await,
        Err(Refusal::Algorithm("HS256".into()))
    );
    // The ES256 key used under another algorithm its JWK does not name.
    let mut parts: Vec<String> = key
        .sign("k1", &good)
        .split('.')
        .map(str::to_owned)
        .collect();
    parts[0] = B64.encode(json!({"alg": "ES384", "kid": "k1"}).to_string());
    assert!(matches!(
        verifier.verify(&parts.join(".")).await,
        Err(Refusal::Algorithm(_))
    ));
    // The payload changed after signing.
    let mut parts: Vec<String> = key
        .sign("k1", &good)
        .split('.')
        .map(str::to_owned)
        .collect();
    parts[1] = B64.encode(with(good.clone(), json!({"sub": "admin-1"})).to_string());
    assert_eq!(
        verifier.verify(&parts.join(".")).await,
        Err(Refusal::BadSignature)
    );
    for junk in ["", "abc", "a.b", "a.b.c.d", &"x".repeat(20_000)] {
        assert!(
            matches!(verifier.verify(junk).await, Err(Refusal::Malformed(_))),
            "{junk:.20}"
        );
    }
}

#[tokio::test]
async fn rotated_keys_are_fetched_again_and_withdrawn_ones_refused() {
    let old = TestKey::es256();
    let new = TestKey::es256();
    let issuer = start_issuer(json!({"keys": [old.jwk("2026-11")]}), None).await;
    let (verifier, _) = Verifier::discover(&issuer.url, AUDIENCE).await.unwrap();
    let verifier = verifier.with_min_refetch(Duration::ZERO);
    let good = claims(&issuer.url);
    let before = old.sign("2026-11", &good);
    assert!(verifier.verify(&before).await.is_ok());
    assert!(verifier.verify(&before).await.is_ok());
    assert_eq!(
        *issuer.jwks_fetches.lock().unwrap(),
        1,
        "the keys are cached"
    );

    // The issuer rotates: the new key replaces the old one.
    *issuer.jwks.lock().unwrap() = json!({"keys": [new.jwk("2026-12")]});
    let after = new.sign("2026-12", &good);
    assert!(
        verifier.verify(&after).await.is_ok(),
        "a new key id fetches the keys again"
    );
    assert_eq!(*issuer.jwks_fetches.lock().unwrap(), 2);
    assert_eq!(verifier.verify(&before).await, Err(Refusal::UnknownKey));
}

#[tokio::test]
async fn unknown_key_ids_fetch_the_keys_at_most_once_per_interval() {
    let key = TestKey::es256();
    let issuer = start_issuer(json!({"keys": [key.jwk("k1")]}), None).await;
    let (verifier, _) = Verifier::discover(&issuer.url, AUDIENCE).await.unwrap();
    let good = claims(&issuer.url);
    assert!(verifier.verify(&key.sign("k1", &good)).await.is_ok());
    for n in 0..50 {
        let forged = key.sign(&format!("forged-{n}"), &good);
        assert_eq!(verifier.verify(&forged).await, Err(Refusal::UnknownKey));
    }
    assert_eq!(*issuer.jwks_fetches.lock().unwrap(), 1);
}

/// An issuer that is down is asked again at most once per interval, however many requests
/// come, and the keys fetched before keep working meanwhile.
#[tokio::test]
async fn an_issuer_that_is_down_is_not_asked_on_every_request() {
    let key = TestKey::es256();
    let issuer = start_issuer(json!({"keys": [key.jwk("k1")]}), None).await;
    let (verifier, _) = Verifier::discover(&issuer.url, AUDIENCE).await.unwrap();
    let verifier = verifier.with_min_refetch(Duration::from_millis(300));
    let good = key.sign("k1", &claims(&issuer.url));
    assert!(verifier.verify(&good).await.is_ok());
    *issuer.jwks.lock().unwrap() = Value::Null;
    tokio::time::sleep(Duration::from_millis(350)).await;
    for n in 0..20 {
        let forged = key.sign(&format!("forged-{n}"), &claims(&issuer.url));
        assert_eq!(verifier.verify(&forged).await, Err(Refusal::UnknownKey));
        assert!(
            verifier.verify(&good).await.is_ok(),
            "the cached key still works"
        );
    }
    assert_eq!(
        *issuer.jwks_fetches.lock().unwrap(),
        2,
        "one fetch that worked, one that failed"
    );

    // Down from the start: the first request says why, the next ones do not ask again.
    let cold = start_issuer(json!({"keys": [key.jwk("k1")]}), None).await;
    let (verifier, _) = Verifier::discover(&cold.url, AUDIENCE).await.unwrap();
    *cold.jwks.lock().unwrap() = Value::Null;
    let token = key.sign("k1", &claims(&cold.url));
    for _ in 0..5 {
        assert!(matches!(
            verifier.verify(&token).await,
            Err(Refusal::KeysUnavailable(why)) if why.ends_with("/jwks: answered 503 Service Unavailable")
        ));
    }
    assert_eq!(*cold.jwks_fetches.lock().unwrap(), 1);
}

#[tokio::test]
async fn an_issuer_is_used_only_as_its_discovery_document_names_it() {
    let issuer = start_issuer(json!({"keys": []}), Some("https://login.example.com")).await;
    match Verifier::discover(&issuer.url, AUDIENCE).await {
        Err(SetupError::IssuerMismatch { found, .. }) => {
            assert_eq!(found, "https://login.example.com")
        }
        other => panic!("{:?}", other.map(|(_, d)| d)),
    }
    // Plain HTTP is refused beyond loopback, before anything is sent.
    let err = Verifier::discover("http://login.example.com", AUDIENCE)
        .await
        .map(|(_, d)| d)
        .unwrap_err();
    assert!(err.to_string().contains("must be https"), "{err}");
    // Nothing listening: a clear error naming the address.
    let err = Verifier::discover("http://127.0.0.1:9", AUDIENCE)
        .await
        .map(|(_, d)| d)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("http://127.0.0.1:9/.well-known/openid-configuration: cannot fetch"),
        "{err}"
    );
}
