//! Telling someone after each pass, without Prometheus (docs/reference.md,
//! "Notifications"): a healthchecks-style ping (`GET url` when the pass succeeded,
//! `GET url/fail` when it failed) or a `POST` of the pass report as JSON. Bounded in
//! time; a notification that fails is logged and counted, never a failed pass. The URL
//! is a secret: it often carries a token, so no log line or error shows it.

use std::sync::OnceLock;
use std::time::Duration;

use crate::secret::Secret;

/// How long one notification may take.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyFormat {
    Ping,
    Json,
}

/// `[*.notify]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Notify {
    pub url: Secret,
    pub format: NotifyFormat,
}

fn client() -> Option<&'static reqwest::Client> {
    static CLIENT: OnceLock<Option<reqwest::Client>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .use_rustls_tls()
                .timeout(NOTIFY_TIMEOUT)
                .connect_timeout(NOTIFY_TIMEOUT)
                // A redirect is an answer, not a hop: following one would hand the
                // URL (its token, as the Referer) and a JSON report to another host.
                .redirect(reqwest::redirect::Policy::none())
                .referer(false)
                .build()
                .ok()
        })
        .as_ref()
}

/// The ping's URL for a pass that `succeeded` (healthchecks.io's `/fail` suffix).
fn ping_url(url: &str, succeeded: bool) -> String {
    if succeeded {
        return url.to_string();
    }
    match url.split_once('?') {
        Some((path, query)) => format!("{}/fail?{query}", path.trim_end_matches('/')),
        None => format!("{}/fail", url.trim_end_matches('/')),
    }
}

/// Sends one notification. The error names what went wrong, never the URL.
pub async fn send(notify: &Notify, succeeded: bool, report: &serde_json::Value) -> Result<(), String> {
    let client = client().ok_or("no HTTP client could be built")?;
    let request = match notify.format {
        NotifyFormat::Ping => client.get(ping_url(notify.url.expose(), succeeded)),
        NotifyFormat::Json => client.post(notify.url.expose()).json(report),
    };
    let answer = tokio::time::timeout(NOTIFY_TIMEOUT, request.send())
        .await
        .map_err(|_| format!("no answer within {}s", NOTIFY_TIMEOUT.as_secs()))?
        .map_err(|e| {
            let e = e.without_url();
            if e.is_timeout() {
                format!("no answer within {}s", NOTIFY_TIMEOUT.as_secs())
            } else if e.is_connect() {
                "cannot connect".to_string()
            } else {
                format!(
                    "the request failed ({})",
                    std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string())
                )
            }
        })?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered HTTP {}", status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::ping_url;

    #[test]
    fn a_failed_pass_pings_the_fail_url() {
        assert_eq!(
            ping_url("https://hc.example/ping/abc", true),
            "https://hc.example/ping/abc"
        );
        assert_eq!(
            ping_url("https://hc.example/ping/abc", false),
            "https://hc.example/ping/abc/fail"
        );
        assert_eq!(
            ping_url("https://hc.example/ping/abc/", false),
            "https://hc.example/ping/abc/fail"
        );
        assert_eq!(
            ping_url("https://hc.example/p?k=1", false),
            "https://hc.example/p/fail?k=1"
        );
    }
}
