//! Signing in to a Cognito user pool for the JWT courier's APIs take: username and password
//! (`USER_PASSWORD_AUTH`), then refreshing. Each is one unsigned JSON call (these Cognito
//! operations take no AWS credentials), so the client needs no AWS SDK for them.
//!
//! ```no_run
//! # async fn demo() -> Result<(), courier_client::auth::AuthError> {
//! use courier_client::auth::CognitoSignIn;
//! let sign_in = CognitoSignIn::in_region("eu-west-1", "app-client-id")?;
//! let tokens = sign_in.with_password("alice", "correct horse battery staple").await?;
//! let client = courier_client::Client::new("https://api.example.com").unwrap()
//!     .with_token(&tokens.access_token);
//! # Ok(()) }
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AuthError {
    /// Cognito said no: wrong username or password, unknown client, disabled user, ...
    #[error("{code}: {message}")]
    Refused { code: String, message: String },
    /// Cognito wants more than a password (a new password, MFA): finish it elsewhere.
    #[error("sign-in needs the {0} challenge answered first")]
    Challenge(String),
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// The platform's certificate verifier could not be set up.
    #[error("{0}")]
    Tls(String),
    #[error("unexpected answer from Cognito: {0}")]
    Unexpected(String),
}

/// What a sign-in gives: the access token to call courier with, and what refreshes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Seconds since the Unix epoch.
    pub expires_at: u64,
}

impl Tokens {
    /// Whether the access token has (nearly) run out: within `margin` of its expiry.
    pub fn expires_within(&self, margin: Duration) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        now + margin >= Duration::from_secs(self.expires_at)
    }
}

/// A Cognito user pool app client (without a secret) to sign in with.
#[derive(Debug, Clone)]
pub struct CognitoSignIn {
    endpoint: String,
    client_id: String,
    http: reqwest::Client,
}

impl CognitoSignIn {
    /// `endpoint`: Cognito's API root (`https://cognito-idp.<region>.amazonaws.com/`, or an
    /// emulator's).
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(
                (*crate::tls::client_config().map_err(AuthError::Tls)?).clone(),
            )
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Self {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            http,
        })
    }

    pub fn in_region(region: &str, client_id: impl Into<String>) -> Result<Self, AuthError> {
        Self::new(
            format!("https://cognito-idp.{region}.amazonaws.com/"),
            client_id,
        )
    }

    pub async fn with_password(&self, username: &str, password: &str) -> Result<Tokens, AuthError> {
        self.initiate(
            "USER_PASSWORD_AUTH",
            json!({"USERNAME": username, "PASSWORD": password}),
            None,
        )
        .await
    }

    /// New access (and ID) tokens for a refresh token; Cognito keeps the refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, AuthError> {
        self.initiate(
            "REFRESH_TOKEN_AUTH",
            json!({"REFRESH_TOKEN": refresh_token}),
            Some(refresh_token),
        )
        .await
    }

    async fn initiate(
        &self,
        flow: &str,
        parameters: Value,
        refresh_token: Option<&str>,
    ) -> Result<Tokens, AuthError> {
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.1")
            .header(
                "x-amz-target",
                "AWSCognitoIdentityProviderService.InitiateAuth",
            )
            .body(
                json!({"AuthFlow": flow, "ClientId": self.client_id, "AuthParameters": parameters})
                    .to_string(),
            )
            .send()
            .await?;
        let ok = response.status().is_success();
        let body: Value = serde_json::from_str(&response.text().await?)
            .map_err(|e| AuthError::Unexpected(e.to_string()))?;
        tokens_of(ok, &body, refresh_token, SystemTime::now())
    }
}

/// Reads Cognito's `InitiateAuth` answer.
fn tokens_of(
    ok: bool,
    body: &Value,
    refresh_token: Option<&str>,
    now: SystemTime,
) -> Result<Tokens, AuthError> {
    let text = |value: &Value| value.as_str().map(str::to_owned);
    if !ok {
        // `__type` may be namespaced: `com.amazonaws...#NotAuthorizedException`.
        let code = body["__type"].as_str().unwrap_or("Error");
        return Err(AuthError::Refused {
            code: code.rsplit('#').next().unwrap_or(code).to_owned(),
            message: text(&body["message"])
                .or_else(|| text(&body["Message"]))
                .unwrap_or_default(),
        });
    }
    if let Some(challenge) = body["ChallengeName"].as_str() {
        return Err(AuthError::Challenge(challenge.to_owned()));
    }
    let result = &body["AuthenticationResult"];
    let access_token = text(&result["AccessToken"])
        .ok_or_else(|| AuthError::Unexpected(format!("no access token in {body}")))?;
    let lifetime = result["ExpiresIn"].as_u64().unwrap_or(3600);
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    Ok(Tokens {
        access_token,
        id_token: text(&result["IdToken"]),
        refresh_token: text(&result["RefreshToken"]).or_else(|| refresh_token.map(str::to_owned)),
        expires_at: now + lifetime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tokens_refusals_and_challenges() {
        let at = UNIX_EPOCH + Duration::from_secs(1_000);
        let signed_in = json!({"AuthenticationResult": {
            "AccessToken": "a", "IdToken": "i", "RefreshToken": "r", "ExpiresIn": 3600}});
        let tokens = tokens_of(true, &signed_in, None, at).unwrap();
        assert_eq!(
            tokens,
            Tokens {
                access_token: "a".into(),
                id_token: Some("i".into()),
                refresh_token: Some("r".into()),
                expires_at: 4_600,
            }
        );
        let refreshed = json!({"AuthenticationResult": {"AccessToken": "b", "ExpiresIn": 60}});
        let tokens = tokens_of(true, &refreshed, Some("r"), at).unwrap();
        assert_eq!(
            tokens.refresh_token.as_deref(),
            Some("r"),
            "the refresh token is kept"
        );

        let refused = json!({"__type": "com.amazonaws.cognito#NotAuthorizedException",
            "message": "Incorrect username or password."});
        match tokens_of(false, &refused, None, at) {
            Err(AuthError::Refused { code, message }) => {
                assert_eq!(code, "NotAuthorizedException");
                assert_eq!(message, "Incorrect username or password.");
            }
            other => panic!("{other:?}"),
        }
        let challenge = json!({"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": "s"});
        assert!(matches!(
            tokens_of(true, &challenge, None, at),
            Err(AuthError::Challenge(c)) if c == "NEW_PASSWORD_REQUIRED"
        ));
        assert!(matches!(
            tokens_of(true, &json!({}), None, at),
            Err(AuthError::Unexpected(_))
        ));
    }

    #[test]
    fn expiry_is_judged_with_a_margin() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let tokens = |expires_at| Tokens {
            access_token: "a".into(),
            id_token: None,
            refresh_token: None,
            expires_at,
        };
        assert!(tokens(now + 30).expires_within(Duration::from_secs(60)));
        assert!(!tokens(now + 600).expires_within(Duration::from_secs(60)));
    }
}
