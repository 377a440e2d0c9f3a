//! Pushing to a Prometheus Pushgateway.

use std::time::Duration;

use crate::error::{Error, Result};

/// Replaces the group `grouping` (label name, value; the first is `job`) on the Pushgateway at
/// `gateway` with `body` (HTTP PUT: metrics of an earlier push absent from `body` are gone).
/// Label values travel base64url-encoded, so any value (a `/`, a time) is safe in the path.
pub async fn push(gateway: &str, grouping: &[(String, String)], body: String) -> Result<()> {
    let mut url = format!("{}/metrics", gateway.trim_end_matches('/'));
    for (name, value) in grouping {
        url.push_str(&format!("/{name}@base64/{}", base64url(value)));
    }
    let fail = |message: String| Error::Push {
        url: gateway.to_string(),
        message,
    };
    let resp = reqwest::Client::new()
        .put(&url)
        .header("Content-Type", "text/plain; version=0.0.4")
        .timeout(Duration::from_secs(10))
        .body(body)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(fail(format!("answered {status}: {}", text.trim())));
    }
    Ok(())
}

/// RFC 4648 base64url with padding (what the Pushgateway decodes); `=` for an empty value.
fn base64url(s: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if s.is_empty() {
        return "=".into();
    }
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64url;

    #[test]
    fn base64url_matches_rfc4648() {
        assert_eq!(base64url(""), "=");
        assert_eq!(base64url("f"), "Zg==");
        assert_eq!(base64url("fo"), "Zm8=");
        assert_eq!(base64url("foo"), "Zm9v");
        assert_eq!(
            base64url("2017-06-02T00:00:00Z"),
            "MjAxNy0wNi0wMlQwMDowMDowMFo="
        );
        assert_eq!(base64url("a/b?>"), "YS9iPz4=");
    }
}
