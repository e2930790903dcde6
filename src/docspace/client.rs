//! The HTTP client for one portal.
//!
//! One place sends every request ([`DocSpaceClient::send`]): it adds the
//! `Authorization` header (marked sensitive so no layer below can print it), applies
//! the per-request timeout, retries what is safe to retry, re-logs in once on a 401
//! when a user/password login is configured, and turns every answer that is not a
//! success into an [`ApiError`] that says what happened.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{AUTHORIZATION, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use tokio::sync::Mutex;

use super::endpoint::Endpoint;
use super::error::{ApiError, ApiErrorKind};
use crate::secret::Secret;
use crate::wire::{self, BackupId, BackupSchedule, HistoryRecord};

/// One request the client sent (every attempt, retries included), as its hook sees it.
#[derive(Clone, Copy, Debug)]
pub struct RequestEvent {
    pub endpoint: Endpoint,
    /// The HTTP status, `None` when no answer came (timeout, connection error).
    pub status: Option<u16>,
    pub elapsed: Duration,
    /// 0 for the first attempt.
    pub attempt: u32,
}

/// Told about every request a client sends. The client owns this small interface so
/// that it depends on nobody: whoever counts requests (the observer) implements it.
pub trait RequestHook: Send + Sync {
    fn request(&self, event: RequestEvent);
}

/// How the client proves who it is.
#[derive(Clone, Debug, PartialEq)]
pub enum Credential {
    /// A personal access token (`sk-…`), always sent as `Bearer`.
    ApiKey(Secret),
    /// User and password exchanged for a session token at `/api/2.0/authentication`.
    Login { user: String, password: Secret },
}

/// Everything needed to reach one portal.
#[derive(Clone, Debug)]
pub struct PortalEndpoint {
    /// Base URL, possibly with a path prefix; API paths are appended to it.
    pub url: Url,
    pub credential: Credential,
    pub request_timeout: Duration,
    pub max_retries: u32,
    /// Per-portal request budget (token bucket, a second's worth of burst).
    pub requests_per_minute: u32,
    /// `Dump=true`: the server-wide dump of an on-premise installation.
    pub dump: bool,
    /// A private CA to trust beside the web PKI roots.
    pub ca_file: Option<PathBuf>,
}

/// Builds the shared HTTP client: rustls with the bundled web PKI roots plus, when
/// given, a private CA. Certificates are always verified; redirects are not followed
/// (an API that redirects is misconfigured, and a redirect must not carry our key).
pub fn http_client(ca_file: Option<&Path>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(concat!("docspace-retention/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(32);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{} is not a PEM certificate bundle: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{} holds no PEM certificate", path.display()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

struct SessionToken {
    token: Secret,
    /// Refresh a minute before the server's expiry.
    valid_until: Option<DateTime<Utc>>,
}

/// Retry timing: exponential backoff with full jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Files a folder listing asks for per page.
const FOLDER_PAGE: u64 = 1000;
/// At most this many pages of one folder (20,000 items).
const MAX_FOLDER_PAGES: usize = 20;
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// A `Retry-After` longer than this is not waited for: the call fails instead.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// A raw answer: status and body.
struct Answer {
    status: u16,
    body: bytes::Bytes,
}

pub struct DocSpaceClient {
    http: reqwest::Client,
    /// Told about every request.
    hook: Option<Arc<dyn RequestHook>>,
    endpoint: PortalEndpoint,
    base: String,
    session: Mutex<Option<SessionToken>>,
    backoff_base: Duration,
    limiter: DefaultDirectRateLimiter,
    /// The server's clock against ours at its last answer with a `Date` header:
    /// seconds ahead (negative: behind).
    clock_skew: std::sync::Mutex<Option<i64>>,
}

impl DocSpaceClient {
    pub fn new(http: reqwest::Client, endpoint: PortalEndpoint) -> Self {
        let base = endpoint.url.as_str().trim_end_matches('/').to_string();
        let limiter = RateLimiter::direct(request_quota(endpoint.requests_per_minute));
        DocSpaceClient {
            limiter,
            http,
            hook: None,
            endpoint,
            base,
            session: Mutex::new(None),
            backoff_base: BACKOFF_BASE,
            clock_skew: std::sync::Mutex::new(None),
        }
    }

    /// The same portal's client for the other target: the on-premise dump instead of
    /// the portal, or back (the same connections, credential, limits and hook).
    pub fn with_dump(&self, dump: bool) -> Self {
        let client = DocSpaceClient::new(
            self.http.clone(),
            PortalEndpoint {
                dump,
                ..self.endpoint.clone()
            },
        )
        .with_backoff_base(self.backoff_base);
        match &self.hook {
            Some(hook) => client.with_hook(Arc::clone(hook)),
            None => client,
        }
    }

    /// Tells `hook` about every request.
    pub fn with_hook(mut self, hook: Arc<dyn RequestHook>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Shorter backoff, for tests that exercise retries.
    pub fn with_backoff_base(mut self, base: Duration) -> Self {
        self.backoff_base = base;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// How far the server's clock was ahead of ours (seconds; negative: behind) at its
    /// last answer that carried a `Date` header.
    pub fn clock_skew_secs(&self) -> Option<i64> {
        *self
            .clock_skew
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets the last clock reading (a pass measures its own).
    pub fn forget_clock_skew(&self) {
        *self
            .clock_skew
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Whether this client addresses the on-premise dump instead of the portal.
    pub fn dump(&self) -> bool {
        self.endpoint.dump
    }

    pub async fn get_schedule(&self) -> Result<Option<BackupSchedule>, ApiError> {
        let answer = self.send(Endpoint::GetSchedule, None).await?;
        wire::parse_schedule(&answer.body).map_err(|error| decode(Endpoint::GetSchedule, &answer, error))
    }

    pub async fn get_history(&self) -> Result<Vec<HistoryRecord>, ApiError> {
        let answer = self.send(Endpoint::GetHistory, None).await?;
        wire::parse_history(&answer.body).map_err(|error| decode(Endpoint::GetHistory, &answer, error))
    }

    /// The server's DocSpace version (anonymous: the key is not sent where it is not
    /// needed). `None` when the answer names none.
    pub async fn get_version(&self) -> Result<Option<String>, ApiError> {
        let answer = self.send_with_retries(Endpoint::GetVersion, None, None, None).await?;
        wire::parse_version(&answer.body).map_err(|error| decode(Endpoint::GetVersion, &answer, error))
    }

    /// Who the server says it is: its tenant's alias, whether it is an on-premise
    /// installation, and (the key is sent for it) the portal's own time zone.
    pub async fn get_settings(&self) -> Result<wire::ServerSettings, ApiError> {
        let answer = self.send(Endpoint::GetSettings, None).await?;
        wire::parse_settings(&answer.body).map_err(|error| decode(Endpoint::GetSettings, &answer, error))
    }

    /// The files of a folder that `wanted` keeps, by title, with their sizes
    /// (`GET /api/2.0/files/{id}`, paged by `FOLDER_PAGE`, at most `MAX_FOLDER_PAGES`
    /// pages). A folder id the server would not route is refused before anything is sent.
    pub async fn list_folder(
        &self,
        folder_id: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, u64)>, ApiError> {
        if folder_id.is_empty()
            || folder_id.len() > 64
            || !folder_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ApiError::new(
                Endpoint::GetFolder,
                ApiErrorKind::Transport {
                    detail: "the schedule's folderId is not an id".into(),
                },
            ));
        }
        let mut files = Vec::new();
        let mut start = 0u64;
        // A folder that keeps answering full pages ends at a bound, not never.
        for _ in 0..MAX_FOLDER_PAGES {
            let page = format!("{folder_id}?startIndex={start}&count={FOLDER_PAGE}");
            let answer = self.send(Endpoint::GetFolder, Some(&page)).await?;
            let page =
                wire::parse_folder_page(&answer.body).map_err(|error| decode(Endpoint::GetFolder, &answer, error))?;
            files.extend(page.files.into_iter().filter(|(title, _)| wanted(title)));
            start += page.items;
            if page.items < FOLDER_PAGE || page.total.is_some_and(|t| start >= t) {
                break;
            }
        }
        Ok(files)
    }

    /// When the calling API key expires (`GET /api/2.0/keys/@self`, DocSpace 3.1.1+);
    /// `Ok(None)` when it never does.
    pub async fn get_key_expiry(&self) -> Result<Option<DateTime<Utc>>, ApiError> {
        let answer = self.send(Endpoint::GetKey, None).await?;
        wire::parse_key_expiry(&answer.body).map_err(|error| decode(Endpoint::GetKey, &answer, error))
    }

    /// Deletes one backup. The answer does not say whether it is gone (docs/docspace-api.md,
    /// "Traps"): callers settle that by reading the history again.
    pub async fn delete_backup(&self, id: BackupId) -> Result<Option<bool>, ApiError> {
        self.send_bool(Endpoint::DeleteBackup, Some(&id.to_string())).await
    }

    pub async fn delete_history(&self) -> Result<Option<bool>, ApiError> {
        self.send_bool(Endpoint::DeleteHistory, None).await
    }

    pub async fn delete_schedule(&self) -> Result<Option<bool>, ApiError> {
        self.send_bool(Endpoint::DeleteSchedule, None).await
    }

    async fn send_bool(&self, endpoint: Endpoint, id: Option<&str>) -> Result<Option<bool>, ApiError> {
        let answer = self.send(endpoint, id).await?;
        wire::parse_bool(&answer.body).map_err(|error| decode(endpoint, &answer, error))
    }

    fn url(&self, endpoint: Endpoint, id: Option<&str>) -> String {
        let mut url = format!("{}{}", self.base, endpoint.path());
        if let Some(id) = id {
            url.push_str(id);
        }
        if endpoint.takes_dump() {
            url.push_str(if self.endpoint.dump {
                "?Dump=true"
            } else {
                "?Dump=false"
            });
        }
        url
    }

    /// Sends one API call with authentication and retries; a success is any 2xx.
    async fn send(&self, endpoint: Endpoint, id: Option<&str>) -> Result<Answer, ApiError> {
        let mut relogged = false;
        loop {
            let auth = self.authorization().await?;
            match self.send_with_retries(endpoint, id, Some(&auth), None).await {
                Err(e)
                    if e.kind == ApiErrorKind::Unauthorized
                        && !relogged
                        && matches!(self.endpoint.credential, Credential::Login { .. }) =>
                {
                    // The session token expired early or was revoked: log in again once.
                    tracing::info!(endpoint = endpoint.as_str(), "session token rejected; logging in again");
                    *self.session.lock().await = None;
                    relogged = true;
                }
                other => return other,
            }
        }
    }

    /// The `Authorization` header value, logging in first when needed.
    async fn authorization(&self) -> Result<HeaderValue, ApiError> {
        let secret = match &self.endpoint.credential {
            Credential::ApiKey(key) => key.clone(),
            Credential::Login { user, password } => {
                let mut session = self.session.lock().await;
                let now = Utc::now();
                match &*session {
                    Some(s) if s.valid_until.is_none_or(|t| now < t) => s.token.clone(),
                    _ => {
                        let fresh = self.login(user, password).await?;
                        let token = fresh.token.clone();
                        *session = Some(fresh);
                        token
                    }
                }
            }
        };
        let mut value = HeaderValue::from_str(&format!("Bearer {}", secret.expose())).map_err(|_| {
            ApiError::new(
                Endpoint::Authenticate,
                ApiErrorKind::Transport {
                    detail: "the credential contains characters not allowed in an HTTP header".into(),
                },
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    async fn login(&self, user: &str, password: &Secret) -> Result<SessionToken, ApiError> {
        let body = serde_json::json!({ "userName": user, "password": password.expose() });
        let answer = self
            .send_with_retries(Endpoint::Authenticate, None, None, Some(&body))
            .await
            .map_err(|e| match e.kind {
                ApiErrorKind::Unauthorized | ApiErrorKind::Forbidden { .. } | ApiErrorKind::NotFound { .. } => {
                    ApiError::new(
                        Endpoint::Authenticate,
                        ApiErrorKind::LoginRejected {
                            user: user.to_string(),
                            status: e.status().unwrap_or(0),
                        },
                    )
                }
                _ => e,
            })?;
        let parsed = wire::parse_login(&answer.body).map_err(|error| decode(Endpoint::Authenticate, &answer, error))?;
        let Some(token) = parsed.token else {
            let kind = if parsed.tfa || parsed.sms {
                ApiErrorKind::TwoFactorRequired { user: user.to_string() }
            } else {
                ApiErrorKind::LoginRejected {
                    user: user.to_string(),
                    status: answer.status,
                }
            };
            return Err(ApiError::new(Endpoint::Authenticate, kind));
        };
        tracing::debug!(user, "logged in");
        Ok(SessionToken {
            token,
            valid_until: parsed.expires.map(|t| t - chrono::TimeDelta::seconds(60)),
        })
    }

    /// One call with retries on connection errors, timeouts, 429 and 502/503/504.
    /// 4xx other than 429 and a 500 are final (a DELETE answered 500 is settled by
    /// reading the history, not by sending it again). A clear or a schedule deletion is
    /// retried only when it cannot have reached the server (a refused connection, a
    /// 429 of the rate limiter): after a timeout, a broken connection or a gateway's
    /// 5xx it may have happened, and the caller settles it by reading.
    async fn send_with_retries(
        &self,
        endpoint: Endpoint,
        id: Option<&str>,
        auth: Option<&HeaderValue>,
        json: Option<&serde_json::Value>,
    ) -> Result<Answer, ApiError> {
        let url = self.url(endpoint, id);
        let mut attempt: u32 = 0;
        loop {
            let started = Instant::now();
            let result = self.send_once(endpoint, &url, auth, json).await;
            let elapsed = started.elapsed();
            let status = match &result {
                Ok(a) => Some(a.status),
                Err((e, _)) => e.status(),
            };
            match &self.hook {
                Some(hook) => hook.request(RequestEvent {
                    endpoint,
                    status,
                    elapsed,
                    attempt,
                }),
                None => tracing::debug!(endpoint = endpoint.as_str(), ?status, attempt, "api request"),
            }
            let (error, retry_after) = match result {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            let retryable = match error.kind {
                ApiErrorKind::Connect { .. } | ApiErrorKind::RateLimited { .. } => true,
                ApiErrorKind::Timeout { .. } | ApiErrorKind::Transport { .. } | ApiErrorKind::Gateway { .. } => {
                    !endpoint.is_sent_once()
                }
                _ => false,
            };
            if !retryable || attempt >= self.endpoint.max_retries {
                return Err(error);
            }
            let wait = match retry_after {
                Some(d) if d > RETRY_AFTER_CAP => return Err(error),
                Some(d) => d,
                None => self.backoff(attempt),
            };
            tracing::warn!(
                endpoint = endpoint.as_str(),
                error = %error.kind,
                retry_in_ms = wait.as_millis() as u64,
                attempt = attempt + 1,
                "retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Full jitter: a uniform wait in [0, min(cap, base * 2^attempt)].
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .backoff_base
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(BACKOFF_CAP);
        ceiling.mul_f64(fastrand::f64())
    }

    async fn send_once(
        &self,
        endpoint: Endpoint,
        url: &str,
        auth: Option<&HeaderValue>,
        json: Option<&serde_json::Value>,
    ) -> Result<Answer, (ApiError, Option<Duration>)> {
        self.limiter.until_ready().await;
        let mut request = self
            .http
            .request(endpoint.method(), url)
            .timeout(self.endpoint.request_timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(auth) = auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if let Some(json) = json {
            request = request.json(json);
        }
        let transport = |e: reqwest::Error| (self.transport_error(endpoint, e), None);
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if let Some(server) = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
        {
            let skew = match server.duration_since(std::time::SystemTime::now()) {
                Ok(ahead) => ahead.as_secs() as i64,
                Err(behind) => -(behind.duration().as_secs() as i64),
            };
            *self
                .clock_skew
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(skew);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_body(response, endpoint, status.as_u16())
            .await
            .map_err(|e| match e {
                BodyError::Transport(e) => transport(e),
                BodyError::TooLarge(e) => (e, None),
            })?;
        if status.is_success() {
            return Ok(Answer {
                status: status.as_u16(),
                body,
            });
        }
        Err((
            ApiError::from_answer(endpoint, status.as_u16(), retry_after, location, &body),
            retry_after.filter(|_| status == StatusCode::TOO_MANY_REQUESTS),
        ))
    }

    fn transport_error(&self, endpoint: Endpoint, e: reqwest::Error) -> ApiError {
        let kind = if e.is_timeout() {
            ApiErrorKind::Timeout {
                after: self.endpoint.request_timeout,
            }
        } else if e.is_connect() {
            ApiErrorKind::Connect { detail: error_chain(e) }
        } else {
            ApiErrorKind::Transport { detail: error_chain(e) }
        };
        ApiError::new(endpoint, kind)
    }
}

/// The largest answer read (docs/reference.md, "Gates"): a history of a million
/// records is about 200 MiB, a real one is kilobytes; anything bigger is refused
/// before it is buffered, and a refused read deletes nothing.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

enum BodyError {
    Transport(reqwest::Error),
    TooLarge(ApiError),
}

/// Reads a body chunk by chunk, refusing it as soon as it passes [`MAX_BODY_BYTES`]
/// (or announces that it will).
async fn read_body(
    mut response: reqwest::Response,
    endpoint: Endpoint,
    status: u16,
) -> Result<bytes::Bytes, BodyError> {
    let too_large = || {
        BodyError::TooLarge(ApiError::new(
            endpoint,
            ApiErrorKind::TooLarge {
                status,
                limit: MAX_BODY_BYTES,
            },
        ))
    };
    if response.content_length().is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `requests_per_minute` evenly spaced, with one second's worth as burst.
fn request_quota(per_minute: u32) -> Quota {
    let per_minute = per_minute.max(1);
    let burst = NonZeroU32::new((per_minute / 60).max(1)).expect("at least 1");
    Quota::with_period(Duration::from_secs(60) / per_minute)
        .expect("a positive period")
        .allow_burst(burst)
}

fn decode(endpoint: Endpoint, answer: &Answer, error: wire::WireError) -> ApiError {
    ApiError::new(
        endpoint,
        ApiErrorKind::Decode {
            status: answer.status,
            error,
        },
    )
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

/// An error and its causes on one line. The URL is left out: the message is shown
/// next to the portal's name anyway.
fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text.push_str(fix_hint(&text));
    text
}

/// What an operator can do about a transport error whose words do not say it.
fn fix_hint(error: &str) -> &'static str {
    if error.contains("InvalidContentType") || error.contains("corrupt message") {
        " (is the portal plain http? an https:// url reached a server that answers http)"
    } else if error.contains("UnknownIssuer") || error.contains("invalid peer certificate") {
        " (a certificate of a private CA? give its PEM bundle as the portal's ca_file)"
    } else if error.contains("Connection refused") || error.contains("ConnectionRefused") {
        " (connection refused: nothing listens at that host and port)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_errors_point_to_the_fix() {
        assert!(fix_hint("invalid peer certificate: UnknownIssuer").contains("ca_file"));
        assert!(fix_hint("received corrupt message of type InvalidContentType").contains("plain http"));
        assert!(fix_hint("tcp connect error: Connection refused (os error 111)").contains("nothing listens"));
        assert_eq!(fix_hint("dns error: failed to lookup address"), "");
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
        let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(20));
        let d = parse_retry_after(&soon).unwrap();
        assert!(d <= Duration::from_secs(20) && d >= Duration::from_secs(18), "{d:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_has_full_jitter_under_the_cap() {
        let client = DocSpaceClient::new(
            reqwest::Client::new(),
            PortalEndpoint {
                url: Url::parse("https://p.example").unwrap(),
                credential: Credential::ApiKey(Secret::new("k")),
                request_timeout: Duration::from_secs(1),
                max_retries: 3,
                requests_per_minute: 600,
                dump: false,
                ca_file: None,
            },
        );
        for attempt in 0..40 {
            let d = client.backoff(attempt);
            let ceiling = (BACKOFF_BASE * 2u32.saturating_pow(attempt.min(16))).min(BACKOFF_CAP);
            assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
        }
    }

    #[test]
    fn urls_keep_the_path_prefix_and_send_lowercase_dump() {
        let client = DocSpaceClient::new(
            reqwest::Client::new(),
            PortalEndpoint {
                url: Url::parse("https://host.example/docspace/").unwrap(),
                credential: Credential::ApiKey(Secret::new("k")),
                request_timeout: Duration::from_secs(1),
                max_retries: 0,
                requests_per_minute: 600,
                dump: false,
                ca_file: None,
            },
        );
        assert_eq!(
            client.url(Endpoint::GetHistory, None),
            "https://host.example/docspace/api/2.0/backup/getbackuphistory?Dump=false"
        );
        assert_eq!(
            client.url(Endpoint::DeleteBackup, Some("0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b")),
            "https://host.example/docspace/api/2.0/backup/deletebackup/0f4b6c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b"
        );
    }
}
