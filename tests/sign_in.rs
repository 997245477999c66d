//! Cognito as the dashboard's identity provider, as far as moto shows it: a user pool with
//! an admin and a reader, their tokens from moto's Cognito, and the same validation
//! `rampart serve --oidc-issuer` runs ([`rampart_oidc::Verifier`]) against moto's published
//! keys, then the caller read from the claims as the API reads it.

mod common;

use rampart_api::edge::Caller;
use rampart_oidc::{Refusal, Verifier};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";

/// One call to Cognito's JSON API on moto (moto reads the service from the credential scope;
/// it checks no signature).
async fn cognito(action: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(common::backends::endpoint())
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            format!("AWSCognitoIdentityProviderService.{action}"),
        )
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=test/20261201/{REGION}/cognito-idp/aws4_request, \
                 SignedHeaders=host, Signature=0"
            ),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{action}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

struct Pool {
    id: String,
    client: String,
}

impl Pool {
    async fn new(name: &str) -> Pool {
        let created = cognito("CreateUserPool", json!({"PoolName": name})).await;
        let id = created["UserPool"]["Id"].as_str().unwrap().to_owned();
        let client = cognito(
            "CreateUserPoolClient",
            json!({"UserPoolId": id, "ClientName": "dashboard", "GenerateSecret": false}),
        )
        .await["UserPoolClient"]["ClientId"]
            .as_str()
            .unwrap()
            .to_owned();
        cognito(
            "CreateGroup",
            json!({"UserPoolId": id, "GroupName": "rampart-admin"}),
        )
        .await;
        Pool { id, client }
    }

    fn issuer(&self) -> String {
        format!("https://cognito-idp.{REGION}.amazonaws.com/{}", self.id)
    }

    fn verifier(&self, audience: &str) -> Verifier {
        let jwks = format!(
            "{}/{}/.well-known/jwks.json",
            common::backends::endpoint(),
            self.id
        );
        Verifier::new(&self.issuer(), audience, &jwks)
    }

    /// A user created by an administrator, as the template's pool allows, signed in:
    /// its ID and access tokens.
    async fn sign_in(&self, user: &str, admin: bool) -> (String, String) {
        let password = "Correct-Horse-9";
        cognito(
            "AdminCreateUser",
            json!({"UserPoolId": self.id, "Username": user, "MessageAction": "SUPPRESS",
                   "TemporaryPassword": "Temporary-Pass-1"}),
        )
        .await;
        cognito(
            "AdminSetUserPassword",
            json!({"UserPoolId": self.id, "Username": user, "Password": password,
                   "Permanent": true}),
        )
        .await;
        if admin {
            cognito(
                "AdminAddUserToGroup",
                json!({"UserPoolId": self.id, "Username": user,
                       "GroupName": "rampart-admin"}),
            )
            .await;
        }
        let answer = cognito(
            "AdminInitiateAuth",
            json!({"UserPoolId": self.id, "ClientId": self.client,
                   "AuthFlow": "ADMIN_NO_SRP_AUTH",
                   "AuthParameters": {"USERNAME": user, "PASSWORD": password}}),
        )
        .await;
        let tokens = &answer["AuthenticationResult"];
        (
            tokens["IdToken"].as_str().unwrap().to_owned(),
            tokens["AccessToken"].as_str().unwrap().to_owned(),
        )
    }
}

#[tokio::test]
async fn tokens_from_a_cognito_pool_pass_the_same_validation_and_name_their_role() {
    let pool = Pool::new(&common::backends::unique("people")).await;
    let verifier = pool.verifier(&pool.client);
    let (admin_id, admin_access) = pool.sign_in("ann@example.com", true).await;
    let (reader_id, reader_access) = pool.sign_in("bob@example.com", false).await;

    // The ID token (`aud`, what the dashboard sends) and the access token (`client_id`).
    for (token, expected) in [
        (&admin_id, ("ann@example.com", true)),
        (&admin_access, ("ann@example.com", true)),
        (&reader_id, ("bob@example.com", false)),
        (&reader_access, ("bob@example.com", false)),
    ] {
        let claims = verifier.verify(token).await.unwrap();
        assert_eq!(claims["iss"], json!(pool.issuer()));
        assert_eq!(
            Caller::from_claims(&claims),
            Caller {
                admin: expected.1,
                name: Some(expected.0.to_owned())
            }
        );
    }

    // Another client of the same pool is another audience.
    assert_eq!(
        pool.verifier("another-client").verify(&admin_id).await,
        Err(Refusal::WrongAudience)
    );
    // moto signs every pool with one key: only the issuer tells another pool's tokens apart.
    let other = Pool::new(&common::backends::unique("strangers")).await;
    let (stranger, _) = other.sign_in("eve@example.com", true).await;
    assert_eq!(
        pool.verifier(&other.client).verify(&stranger).await,
        Err(Refusal::WrongIssuer)
    );
}
