//! Finds the local stack's API URL: `.local/outputs.json` in this directory or an ancestor.

use std::path::Path;

pub fn local_api_url() -> Result<String, String> {
    let start = std::env::current_dir().map_err(|e| e.to_string())?;
    for dir in start.ancestors() {
        let candidate = dir.join(".local/outputs.json");
        if candidate.is_file() {
            return read_url(&candidate);
        }
    }
    Err(
        "no --url, no COURIER_URL, and no .local/outputs.json here or above \
         (bring the local stack up with infra/up.sh)"
            .to_owned(),
    )
}

fn read_url(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let outputs: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    outputs["HttpApiUrl"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{} has no HttpApiUrl", path.display()))
}
