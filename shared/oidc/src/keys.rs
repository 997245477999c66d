//! The issuer's signing keys: a JWK Set read with bounds, and signature checks on ring.
//!
//! jsonwebtoken parses and validates tokens; the signature itself is checked here, with
//! ring's verifiers, through the crate's [`CryptoProvider`] interface. Only public-key
//! algorithms are allowed: a shared secret (HS256) would let anyone who reads the JWK Set
//! sign tokens, and `alg: none` is not an algorithm jsonwebtoken parses at all.

use std::collections::HashMap;

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::signature as ring_sig;

/// The algorithms a token may be signed with.
pub const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Most keys kept from one JWK Set: issuers publish two or three (current, next, previous).
pub const MAX_KEYS: usize = 32;

/// jsonwebtoken's provider with ring's verifiers. It signs nothing: Rampart only checks.
pub static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: refuse_signing,
    verifier_factory: ring_verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes [`RING_PROVIDER`] jsonwebtoken's provider for this process (once; later calls and
/// an earlier installation leave it as it is).
pub fn install_provider() {
    let _ = RING_PROVIDER.install_default();
}

fn refuse_signing(_: &Algorithm, _: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    Err(ErrorKind::UnsupportedAlgorithm.into())
}

fn ring_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    if !ALLOWED.contains(alg) || key.family() != alg.family() {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    Ok(Box::new(RingVerifier {
        alg: *alg,
        key: key.clone(),
    }))
}

struct RingVerifier {
    alg: Algorithm,
    key: DecodingKey,
}

impl RingVerifier {
    fn rsa(&self) -> Option<&'static ring_sig::RsaParameters> {
        Some(match self.alg {
            Algorithm::RS256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &ring_sig::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &ring_sig::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &ring_sig::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    fn other(&self) -> Option<&'static dyn ring_sig::VerificationAlgorithm> {
        Some(match self.alg {
            Algorithm::ES256 => &ring_sig::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &ring_sig::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &ring_sig::ED25519,
            _ => return None,
        })
    }
}

impl signature::Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let checked = match (self.key.kind(), self.rsa(), self.other()) {
            (DecodingKeyKind::RsaModulusExponent { n, e }, Some(params), _) => {
                ring_sig::RsaPublicKeyComponents { n, e }.verify(params, msg, sig)
            }
            (DecodingKeyKind::SecretOrDer(der), Some(params), _) => {
                ring_sig::UnparsedPublicKey::new(params, der).verify(msg, sig)
            }
            (DecodingKeyKind::SecretOrDer(point), None, Some(params)) => {
                ring_sig::UnparsedPublicKey::new(params, point).verify(msg, sig)
            }
            _ => Err(ring::error::Unspecified),
        };
        checked.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// One usable key of the set.
pub(crate) struct Key {
    /// The algorithm the JWK names, when it names one: a token must then use exactly it.
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
}

/// The signing keys of one JWK Set, by key id (`""` for a key without one).
#[derive(Default)]
pub(crate) struct KeySet {
    pub by_id: HashMap<String, Key>,
    /// Keys left out: encryption keys, symmetric keys, unknown types, past [`MAX_KEYS`].
    pub skipped: usize,
}

impl KeySet {
    /// The keys of a JWK Set document. Each key is read on its own, so one key of a type
    /// Rampart does not know leaves the others usable.
    pub fn parse(document: &serde_json::Value) -> Result<KeySet, String> {
        let keys = document
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or("the JWK Set has no `keys` array")?;
        let mut set = KeySet::default();
        for value in keys {
            if set.by_id.len() == MAX_KEYS {
                set.skipped += 1;
                continue;
            }
            match usable(value) {
                Some((id, key)) => {
                    set.by_id.insert(id, key);
                }
                None => set.skipped += 1,
            }
        }
        Ok(set)
    }

    /// The key a token's header names. Without a `kid`, only a set of one key answers.
    pub fn find(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self.by_id.get(kid),
            None if self.by_id.len() == 1 => self.by_id.values().next(),
            None => None,
        }
    }
}

fn usable(value: &serde_json::Value) -> Option<(String, Key)> {
    let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let alg = match value.get("alg").and_then(|a| a.as_str()) {
        Some(name) => Some(name.parse().ok().filter(|a| ALLOWED.contains(a))?),
        None => None,
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    if key.family() == jsonwebtoken::AlgorithmFamily::Hmac {
        return None;
    }
    let id = jwk.common.key_id.unwrap_or_default();
    Some((id, Key { alg, key }))
}
