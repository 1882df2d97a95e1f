//! Finds the local stack's outputs: `.local/outputs.json` in this directory or an ancestor.

use std::path::Path;

pub fn local_api_url() -> Result<String, String> {
    local_output("HttpApiUrl", "--url or COURIER_URL")
}

pub fn local_websocket_url() -> Result<String, String> {
    local_output("WebSocketUrl", "--ws-url or COURIER_WS_URL")
}

pub fn local_output(key: &str, instead: &str) -> Result<String, String> {
    let start = std::env::current_dir().map_err(|e| e.to_string())?;
    for dir in start.ancestors() {
        let candidate = dir.join(".local/outputs.json");
        if candidate.is_file() {
            return read_output(&candidate, key);
        }
    }
    Err(format!(
        "no {instead}, and no .local/outputs.json here or above \
         (bring the local stack up with infra/up.sh)"
    ))
}

fn read_output(path: &Path, key: &str) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let outputs: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    outputs[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{} has no {key}", path.display()))
}
