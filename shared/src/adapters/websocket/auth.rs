//! The `$connect` check: a client presents one of the configured access tokens, as a `token`
//! query parameter (browsers cannot set headers on a WebSocket) or `Authorization: Bearer`.

use sha2::{Digest, Sha256};
use thiserror::Error;

/// Shortest token accepted in configuration: anything shorter is guessable.
pub const MIN_TOKEN_CHARS: usize = 16;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenConfigError {
    #[error("no access token is configured")]
    Empty,
    #[error("access tokens must be at least {MIN_TOKEN_CHARS} characters")]
    TooShort,
}

/// The tokens `$connect` accepts (several during a rotation), kept as SHA-256 digests.
#[derive(Clone)]
pub struct AccessTokens(Vec<[u8; 32]>);

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessTokens({} configured)", self.0.len())
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl AccessTokens {
    /// Tokens separated by commas or whitespace.
    pub fn parse(list: &str) -> Result<Self, TokenConfigError> {
        let tokens: Vec<&str> = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .collect();
        if tokens.is_empty() {
            return Err(TokenConfigError::Empty);
        }
        if tokens.iter().any(|t| t.chars().count() < MIN_TOKEN_CHARS) {
            return Err(TokenConfigError::TooShort);
        }
        Ok(Self(tokens.into_iter().map(digest).collect()))
    }

    /// Compares digests without an early exit, so timing says nothing about the tokens.
    pub fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented);
        self.0.iter().fold(false, |found, known| {
            let difference = known
                .iter()
                .zip(presented.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            found | (difference == 0)
        })
    }
}

/// The token a `$connect` request presents: the `token` query parameter, else a bearer token.
pub fn presented_token<'a>(
    query_token: Option<&'a str>,
    authorization: Option<&'a str>,
) -> Option<&'a str> {
    query_token.filter(|t| !t.is_empty()).or_else(|| {
        authorization
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or(value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "0123456789abcdef-good";
    const OLD: &str = "0123456789abcdef-old";

    #[test]
    fn accepts_only_configured_tokens() {
        let tokens = AccessTokens::parse(&format!("{GOOD}, {OLD}")).unwrap();
        assert!(tokens.accepts(GOOD));
        assert!(tokens.accepts(OLD));
        assert!(!tokens.accepts("0123456789abcdef-bad"));
        assert!(!tokens.accepts(""));
        assert!(!tokens.accepts(&format!("{GOOD} ")));
    }

    #[test]
    fn refuses_weak_or_missing_configuration() {
        assert_eq!(
            AccessTokens::parse(" , ").unwrap_err(),
            TokenConfigError::Empty
        );
        assert_eq!(
            AccessTokens::parse("short").unwrap_err(),
            TokenConfigError::TooShort
        );
    }

    #[test]
    fn takes_the_query_parameter_or_a_bearer_header() {
        assert_eq!(presented_token(Some("q"), Some("Bearer h")), Some("q"));
        assert_eq!(presented_token(None, Some("Bearer h")), Some("h"));
        assert_eq!(presented_token(Some(""), Some("Bearer h")), Some("h"));
        assert_eq!(presented_token(None, Some("Basic h")), None);
        assert_eq!(presented_token(None, Some("Bearer ")), None);
        assert_eq!(presented_token(None, None), None);
    }
}
