//! Verifies the JWTs callers present where no API Gateway JWT authorizer can (the WebSocket
//! API's `$connect`): RS256 against the issuer's published keys (JWKS), issuer, expiry and
//! not-before (within [`CLOCK_SKEW`]), an accepted audience (`aud`, or `client_id` in a Cognito
//! access token), and the kind of token: an access token, never an ID token
//! ([`kind_accepted`], which the HTTP API applies to its authorizer's claims too).
//!
//! Keys are fetched once and kept; a token signed with a key not seen yet refetches them (at
//! most every [`REFETCH_AFTER`]), so the issuer's key rotation needs no restart.

use crate::application::ports::{TokenRejected, TokenVerifier};
use crate::domain::Principal;
use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// The least time between two fetches of the keys.
pub const REFETCH_AFTER: Duration = Duration::from_secs(30);

/// After a failed fetch of the keys, the least time before they are asked for again (or
/// [`REFETCH_AFTER`], if shorter): an unreachable issuer is not asked once per request.
pub const RETRY_FETCH_AFTER: Duration = Duration::from_secs(5);

/// How far the issuer's clock may be from ours, either way, for `exp` and `nbf`.
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);

/// The token of an `Authorization` header's `Bearer` scheme (the scheme in any case, as HTTP
/// has it), the one reading of the header for both doors that check tokens themselves.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether a token of this `token_use` may call courier: Cognito marks its tokens `access` or
/// `id`, and only access tokens are meant for APIs (an ID token describes a user to a client).
/// Other issuers do not set the claim.
pub fn kind_accepted(token_use: Option<&str>) -> bool {
    matches!(token_use, None | Some("access"))
}

/// Where the issuer's keys come from.
#[async_trait]
pub trait KeySource: Send + Sync {
    async fn keys(&self) -> Result<JwkSet, String>;
}

/// An issuer's JWKS document over HTTPS (or, locally, the emulator's).
pub struct HttpKeySource {
    url: String,
    http: reqwest::Client,
}

impl HttpKeySource {
    pub fn new(url: impl Into<String>) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*super::https::tls_config()).clone())
            .timeout(Duration::from_secs(5))
            // The issuer's keys come straight from the issuer, never through a system proxy.
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            url: url.into(),
            http,
        })
    }
}

#[async_trait]
impl KeySource for HttpKeySource {
    async fn keys(&self) -> Result<JwkSet, String> {
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.url))?;
        if !response.status().is_success() {
            return Err(format!("{}: HTTP {}", self.url, response.status()));
        }
        response
            .json()
            .await
            .map_err(|e| format!("{}: {e}", self.url))
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    token_use: Option<String>,
}

pub struct JwtVerifier {
    issuer: String,
    audiences: Vec<String>,
    source: Box<dyn KeySource>,
    cached: RwLock<Option<(Instant, JwkSet)>>,
    /// When the last fetch failed (none since the last that succeeded).
    failed_at: RwLock<Option<Instant>>,
    refetch_after: Duration,
}

impl JwtVerifier {
    pub fn new(
        issuer: impl Into<String>,
        audiences: Vec<String>,
        source: Box<dyn KeySource>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            audiences,
            source,
            cached: RwLock::new(None),
            failed_at: RwLock::new(None),
            refetch_after: REFETCH_AFTER,
        }
    }

    /// The same verifier refetching keys at most every `interval` (tests).
    pub fn refetching_after(mut self, interval: Duration) -> Self {
        self.refetch_after = interval;
        self
    }

    /// The key `kid` names, fetching the keys when they are not known yet or lack it.
    async fn key(&self, kid: &str) -> Result<DecodingKey, TokenRejected> {
        let known = |keys: &JwkSet| keys.find(kid).map(DecodingKey::from_jwk);
        if let Some((_, keys)) = self.cached.read().await.as_ref()
            && let Some(key) = known(keys)
        {
            return key.map_err(|e| TokenRejected::Invalid(e.to_string()));
        }
        let stale = self
            .cached
            .read()
            .await
            .as_ref()
            .is_none_or(|(fetched, _)| fetched.elapsed() >= self.refetch_after);
        let retry_after = RETRY_FETCH_AFTER.min(self.refetch_after);
        let resting = self
            .failed_at
            .read()
            .await
            .is_some_and(|failed| failed.elapsed() < retry_after);
        if stale && !resting {
            // Fetched without holding the lock: a slow issuer holds up no one else.
            match self.source.keys().await {
                Ok(keys) => {
                    *self.cached.write().await = Some((Instant::now(), keys));
                    *self.failed_at.write().await = None;
                }
                Err(error) => {
                    *self.failed_at.write().await = Some(Instant::now());
                    return Err(TokenRejected::KeysUnavailable(error));
                }
            }
        }
        let cached = self.cached.read().await;
        let Some((_, keys)) = cached.as_ref() else {
            return Err(TokenRejected::KeysUnavailable(
                "the issuer's keys could not be fetched; asked again shortly".into(),
            ));
        };
        known(keys)
            .ok_or_else(|| TokenRejected::Invalid(format!("no key {kid:?} in the issuer's keys")))?
            .map_err(|e| TokenRejected::Invalid(e.to_string()))
    }

    fn audience_accepted(&self, claims: &Claims) -> bool {
        let audiences: Vec<&str> = match &claims.aud {
            Some(Audience::One(one)) => vec![one],
            Some(Audience::Many(many)) => many.iter().map(String::as_str).collect(),
            None => claims.client_id.as_deref().into_iter().collect(),
        };
        audiences
            .iter()
            .any(|aud| self.audiences.iter().any(|accepted| accepted == aud))
    }
}

#[async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<Principal, TokenRejected> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenRejected::Invalid(e.to_string()))?;
        // Only what the issuer signs with: never `none`, never a shared-secret algorithm.
        if header.alg != Algorithm::RS256 {
            return Err(TokenRejected::Invalid(format!(
                "algorithm {:?}",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| TokenRejected::Invalid("no key id (kid)".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = CLOCK_SKEW.as_secs();
        // Checked below: a Cognito access token names its audience as `client_id`.
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| TokenRejected::Invalid(e.to_string()))?
            .claims;
        if !self.audience_accepted(&claims) {
            return Err(TokenRejected::Invalid(
                "not for an accepted audience".into(),
            ));
        }
        if !kind_accepted(claims.token_use.as_deref()) {
            return Err(TokenRejected::Invalid("not an access token".into()));
        }
        Ok(Principal::new(claims.iss, claims.sub))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_is_read_whatever_the_schemes_case() {
        for value in ["Bearer t.k.n", "bearer t.k.n", "BEARER  t.k.n "] {
            assert_eq!(bearer_token(value), Some("t.k.n"), "{value}");
        }
        for value in ["Bearer ", "Bearer", "Basic dXNlcg==", "t.k.n", ""] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::{Value, json};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A throwaway RSA key (PKCS #1 DER) that signs test tokens; its public half is the JWKS.
    const PRIVATE_KEY: &[u8] = include_bytes!("../../fixtures/jwt-test-key.der");
    const JWKS: &str = include_str!("../../fixtures/jwt-test-jwks.json");
    const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_test";

    struct Fixed(Arc<AtomicUsize>);

    #[async_trait]
    impl KeySource for Fixed {
        async fn keys(&self) -> Result<JwkSet, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(serde_json::from_str(JWKS).unwrap())
        }
    }

    fn verifier() -> (JwtVerifier, Arc<AtomicUsize>) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let verifier = JwtVerifier::new(
            ISSUER,
            vec!["client-1".into()],
            Box::new(Fixed(fetches.clone())),
        );
        (verifier, fetches)
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn token(claims: Value, kid: &str) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        encode(&header, &claims, &EncodingKey::from_rsa_der(PRIVATE_KEY)).unwrap()
    }

    fn access_token() -> Value {
        json!({"iss": ISSUER, "sub": "alice", "client_id": "client-1", "token_use": "access",
               "exp": now() + 600})
    }

    #[tokio::test]
    async fn an_access_token_or_another_issuers_token_names_its_caller_and_the_keys_are_fetched_once()
     {
        let (verifier, fetches) = verifier();
        // Issuers other than Cognito set no `token_use`; a `nbf` just past, or within the
        // allowed skew ahead, is valid.
        let plain = json!({"iss": ISSUER, "sub": "alice", "aud": "client-1", "exp": now() + 600,
                           "nbf": now() - 5});
        let mut skewed = access_token();
        skewed["nbf"] = json!(now() + CLOCK_SKEW.as_secs() / 2);
        for claims in [access_token(), plain, skewed] {
            let principal = verifier.verify(&token(claims, "test-key-1")).await.unwrap();
            assert_eq!(principal, Principal::new(ISSUER, "alice"));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn bad_tokens_are_refused() {
        let (verifier, _) = verifier();
        let with = |change: &dyn Fn(&mut Value)| {
            let mut claims = access_token();
            change(&mut claims);
            token(claims, "test-key-1")
        };
        let good = token(access_token(), "test-key-1");
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged_claims = {
            use base64::Engine;
            let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            engine.encode(
                json!({"iss": ISSUER, "sub": "mallory", "client_id": "client-1",
                                 "exp": now() + 600})
                .to_string(),
            )
        };
        parts[1] = &forged_claims;
        let forged = parts.join(".");
        let unsigned = {
            use base64::Engine;
            let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!(
                "{}.{}.",
                engine.encode(r#"{"alg":"none","kid":"test-key-1"}"#),
                forged_claims
            )
        };
        let cases = [
            ("expired", with(&|c| c["exp"] = json!(now() - 600))),
            (
                "expired beyond the skew",
                with(&|c| c["exp"] = json!(now() - CLOCK_SKEW.as_secs() - 5)),
            ),
            (
                "not yet valid (nbf)",
                with(&|c| c["nbf"] = json!(now() + CLOCK_SKEW.as_secs() + 60)),
            ),
            (
                "an ID token",
                with(&|c| {
                    c["token_use"] = json!("id");
                    c["aud"] = json!("client-1");
                }),
            ),
            (
                "another kind of token",
                with(&|c| c["token_use"] = json!("refresh")),
            ),
            (
                "another issuer",
                with(&|c| c["iss"] = json!("https://evil.example")),
            ),
            (
                "another audience",
                with(&|c| c["client_id"] = json!("client-2")),
            ),
            (
                "no subject",
                with(&|c| {
                    c.as_object_mut().unwrap().remove("sub");
                }),
            ),
            ("unknown key", token(access_token(), "other-key")),
            ("forged claims", forged),
            ("unsigned", unsigned),
            ("not a token", "not-a-jwt".to_owned()),
        ];
        for (name, token) in cases {
            assert!(
                verifier.verify(&token).await.is_err(),
                "{name} was accepted"
            );
        }
    }

    #[tokio::test]
    async fn an_unknown_key_refetches_at_most_every_so_often() {
        let (verifier, fetches) = verifier();
        for _ in 0..3 {
            assert!(
                verifier
                    .verify(&token(access_token(), "rotated"))
                    .await
                    .is_err()
            );
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "not once per request");
    }

    /// An issuer that cannot be reached.
    struct Unreachable(Arc<AtomicUsize>);

    #[async_trait]
    impl KeySource for Unreachable {
        async fn keys(&self) -> Result<JwkSet, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err("connection refused".into())
        }
    }

    #[tokio::test]
    async fn an_unreachable_issuer_is_asked_again_only_after_a_rest() {
        let fetches = Arc::new(AtomicUsize::new(0));
        let verifier = JwtVerifier::new(
            ISSUER,
            vec!["client-1".into()],
            Box::new(Unreachable(fetches.clone())),
        );
        let token = token(access_token(), "test-key-1");
        for _ in 0..3 {
            assert!(matches!(
                verifier.verify(&token).await,
                Err(TokenRejected::KeysUnavailable(_))
            ));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1, "not once per request");
    }

    /// The issuer's keys after a rotation: the test key under a new id.
    struct Rotating(Arc<AtomicUsize>);

    #[async_trait]
    impl KeySource for Rotating {
        async fn keys(&self) -> Result<JwkSet, String> {
            let fetch = self.0.fetch_add(1, Ordering::SeqCst);
            let mut keys: Value = serde_json::from_str(JWKS).unwrap();
            if fetch > 0 {
                keys["keys"][0]["kid"] = json!("rotated");
            }
            Ok(serde_json::from_value(keys).unwrap())
        }
    }

    #[tokio::test]
    async fn a_rotated_key_is_fetched_once_the_interval_has_passed() {
        let fetches = Arc::new(AtomicUsize::new(0));
        let verifier = JwtVerifier::new(
            ISSUER,
            vec!["client-1".into()],
            Box::new(Rotating(fetches.clone())),
        )
        .refetching_after(Duration::from_secs(1));
        // Both tokens are signed first: signing is slow on a loaded machine, and must not eat
        // into the interval.
        let (current, rotated) = (
            token(access_token(), "test-key-1"),
            token(access_token(), "rotated"),
        );
        verifier.verify(&current).await.unwrap();
        // Within the interval the unknown key is refused without asking the issuer again.
        assert!(verifier.verify(&rotated).await.is_err());
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // The interval itself is what is tested: past it, the issuer is asked again.
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let principal = verifier.verify(&rotated).await.unwrap();
        assert_eq!(principal, Principal::new(ISSUER, "alice"));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }
}
