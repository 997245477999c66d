//! A real OpenID issuer for the tests and the benchmark: an axum server on 127.0.0.1 that
//! publishes a discovery document and a JWK Set the caller can replace, and signing keys
//! (ES256 and Ed25519 from ring; RS256 from a key openssl generates) that make tokens.

#![allow(dead_code)] // each user takes what it needs

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use serde_json::{Value, json};

pub const AUDIENCE: &str = "rampart-dashboard";

/// One signing key of the test issuer.
pub enum TestKey {
    Es256(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

impl TestKey {
    pub fn es256() -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        TestKey::Es256(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap(),
        )
    }

    pub fn ed25519() -> TestKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        TestKey::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    /// A 2048-bit RSA key: ring signs with RSA keys but does not make them.
    pub fn rs256() -> TestKey {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-outform",
                "DER",
            ])
            .output()
            .expect("openssl makes the RSA test key");
        // openssl writes the RSAPrivateKey (PKCS#1) structure in DER.
        TestKey::Rs256(RsaKeyPair::from_der(&out.stdout).expect("an RSA private key"))
    }

    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            TestKey::Es256(pair) => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                       "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..])})
            }
            TestKey::Ed25519(pair) => json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
                "x": B64.encode(pair.public_key().as_ref())}),
            TestKey::Rs256(pair) => {
                let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
                json!({"kty": "RSA", "alg": "RS256", "kid": kid,
                       "n": B64.encode(&public.n), "e": B64.encode(&public.e)})
            }
        }
    }

    pub fn alg(&self) -> &'static str {
        match self {
            TestKey::Es256(_) => "ES256",
            TestKey::Ed25519(_) => "EdDSA",
            TestKey::Rs256(_) => "RS256",
        }
    }

    /// A compact JWS of `claims` with header `{alg, kid}`.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": self.alg(), "typ": "JWT", "kid": kid});
        let message = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = match self {
            TestKey::Es256(pair) => pair
                .sign(&SystemRandom::new(), message.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            TestKey::Ed25519(pair) => pair.sign(message.as_bytes()).as_ref().to_vec(),
            TestKey::Rs256(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message.as_bytes(),
                    &mut signature,
                )
                .unwrap();
                signature
            }
        };
        format!("{message}.{}", B64.encode(signature))
    }
}

/// The issuer: its address, and the JWK Set it publishes now.
pub struct Issuer {
    pub url: String,
    pub jwks: Arc<Mutex<Value>>,
    pub jwks_fetches: Arc<Mutex<usize>>,
}

#[derive(Clone)]
struct Published {
    issuer: String,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<Mutex<usize>>,
}

pub async fn start_issuer(jwks: Value, claimed_issuer: Option<&str>) -> Issuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let published = Published {
        issuer: claimed_issuer.map_or(url.clone(), str::to_owned),
        jwks: Arc::new(Mutex::new(jwks)),
        fetches: Arc::new(Mutex::new(0)),
    };
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(p): State<Published>| async move {
                Json(json!({
                    "issuer": p.issuer,
                    "authorization_endpoint": format!("{}/auth", p.issuer),
                    "token_endpoint": format!("{}/token", p.issuer),
                    "jwks_uri": format!("{}/jwks", p.issuer),
                    "end_session_endpoint": format!("{}/session/end", p.issuer),
                }))
            }),
        )
        .route(
            "/jwks",
            // A JWK Set of `null` stands for an issuer that is down.
            get(|State(p): State<Published>| async move {
                *p.fetches.lock().unwrap() += 1;
                let jwks = p.jwks.lock().unwrap().clone();
                if jwks.is_null() {
                    return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
                }
                Ok(Json(jwks))
            }),
        )
        .with_state(published.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Issuer {
        url,
        jwks: published.jwks,
        jwks_fetches: published.fetches,
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
