//! The JWT the `courier` commands call the API with, and `courier login`.
//!
//! Where it comes from, first match wins: `--token` / `COURIER_TOKEN`; on the local stack (no
//! `--url`), a sign-in as its local user (`LocalUsername` in `.local/outputs.json`); otherwise
//! the tokens `courier login` stored, refreshed when they are about to run out — and only for
//! the API they were signed in for, so a token is never sent to another host.

use crate::target;
use courier_client::auth::{CognitoSignIn, Tokens};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Tokens this close to their expiry are refreshed before use.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// What `courier login` keeps: the tokens and where to refresh them.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    /// The API base URL the tokens are for (`--url` at login).
    api_url: String,
    endpoint: String,
    client_id: String,
    tokens: Tokens,
}

/// `$XDG_CONFIG_HOME/courier/tokens.json`, or `~/.config/courier/tokens.json`.
fn stored_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("courier/tokens.json"))
}

fn save(stored: &Stored) -> Result<PathBuf, String> {
    let path = stored_path().ok_or("no HOME or XDG_CONFIG_HOME to keep the tokens in")?;
    let dir = path.parent().expect("a file in a directory");
    create_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(stored).expect("serialisable");
    write_private(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Readable by its owner only (it holds a refresh token), and replaced whole: written to a
/// private temporary file beside it, then renamed over it, so a reader never sees half a file
/// and an existing file's looser mode does not carry over.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&temporary)
        .and_then(|mut file| file.write_all(text.as_bytes()));
    match written.and_then(|()| std::fs::rename(&temporary, path)) {
        Ok(()) => Ok(()),
        Err(error) => {
            let _ = std::fs::remove_file(&temporary);
            Err(error)
        }
    }
}

/// The local stack's sign-in: its Cognito (the emulator) and app client.
fn local_sign_in() -> Result<CognitoSignIn, String> {
    let endpoint = target::local_output("Endpoint", "--token or COURIER_TOKEN")?;
    let client_id = target::local_output("UserPoolClientId", "--token or COURIER_TOKEN")?;
    CognitoSignIn::new(format!("{endpoint}/"), client_id).map_err(|e| e.to_string())
}

async fn sign_in_locally() -> Result<Tokens, String> {
    let username = target::local_output("LocalUsername", "--token or COURIER_TOKEN")?;
    let password = target::local_output("LocalPassword", "--token or COURIER_TOKEN")?;
    local_sign_in()?
        .with_password(&username, &password)
        .await
        .map_err(|e| format!("signing in to the local stack: {e}"))
}

/// The token for a command calling `api_url`.
pub async fn token(explicit: Option<String>, api_url: &str) -> Result<Option<String>, String> {
    if explicit.is_some() {
        return Ok(explicit);
    }
    // The local stack, named or not: its own user signs in.
    if target::local_api_url().is_ok_and(|local| local == api_url) {
        return Ok(Some(sign_in_locally().await?.access_token));
    }
    let Some(path) = stored_path().filter(|p| p.is_file()) else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut stored: Stored =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if stored.api_url.trim_end_matches('/') != api_url.trim_end_matches('/') {
        return Err(format!(
            "the kept tokens are for {}, not {api_url}: courier login --url {api_url}, or --token",
            stored.api_url
        ));
    }
    if stored.tokens.expires_within(REFRESH_MARGIN) {
        let Some(refresh) = stored.tokens.refresh_token.clone() else {
            return Err("the stored token has expired: courier login again".into());
        };
        let sign_in =
            CognitoSignIn::new(&stored.endpoint, &stored.client_id).map_err(|e| e.to_string())?;
        stored.tokens = sign_in
            .refresh(&refresh)
            .await
            .map_err(|e| format!("refreshing the stored token (courier login again): {e}"))?;
        save(&stored)?;
    }
    Ok(Some(stored.tokens.access_token))
}

/// Where `courier login` signs in.
pub struct LoginTarget {
    /// The API the tokens are for.
    pub api_url: String,
    pub username: Option<String>,
    pub client_id: Option<String>,
    pub region: Option<String>,
    pub cognito_endpoint: Option<String>,
}

/// Signs in and stores the tokens. Without a username: the local stack's user. The password
/// is read from the first line of standard input.
pub async fn login(target: LoginTarget) -> Result<String, String> {
    let (endpoint, client_id, tokens) = match target.username {
        None => {
            let endpoint = format!("{}/", target::local_output("Endpoint", "--username")?);
            let client_id = target::local_output("UserPoolClientId", "--username")?;
            (endpoint, client_id, sign_in_locally().await?)
        }
        Some(username) => {
            let client_id = match target.client_id {
                Some(id) => id,
                None => target::local_output("UserPoolClientId", "--client-id")?,
            };
            let endpoint = match (target.cognito_endpoint, target.region) {
                (Some(endpoint), _) => endpoint,
                (None, Some(region)) => format!("https://cognito-idp.{region}.amazonaws.com/"),
                (None, None) => format!("{}/", target::local_output("Endpoint", "--region")?),
            };
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .map_err(|e| format!("reading the password from standard input: {e}"))?;
            let sign_in = CognitoSignIn::new(&endpoint, &client_id).map_err(|e| e.to_string())?;
            let tokens = sign_in
                .with_password(&username, password.trim_end_matches(['\r', '\n']))
                .await
                .map_err(|e| e.to_string())?;
            (endpoint, client_id, tokens)
        }
    };
    let path = save(&Stored {
        api_url: target.api_url,
        endpoint,
        client_id,
        tokens,
    })?;
    Ok(format!("signed in; tokens kept in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn kept_tokens_are_private_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("courier-login-test-{}", std::process::id()));
        create_private_dir(&dir).unwrap();
        let path = dir.join("tokens.json");
        // A file left readable by others keeps no such mode once rewritten.
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
