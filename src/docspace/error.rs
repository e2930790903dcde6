//! What can go wrong talking to a portal, in words an operator can act on.

use std::fmt;
use std::time::Duration;

use super::endpoint::Endpoint;
use crate::wire::{self, WireError};

#[derive(Debug, Clone, PartialEq)]
pub enum ApiErrorKind {
    /// 401 with an API key or token.
    Unauthorized,
    /// The login call itself was refused.
    LoginRejected {
        user: String,
        status: u16,
    },
    /// Login succeeded but the account has two-factor authentication on.
    TwoFactorRequired {
        user: String,
    },
    PaymentRequired,
    Forbidden {
        message: Option<String>,
    },
    NotFound {
        message: Option<String>,
    },
    RateLimited {
        retry_after: Option<Duration>,
    },
    ServerError {
        status: u16,
        message: Option<String>,
    },
    /// 502/503/504, usually from a reverse proxy.
    Gateway {
        status: u16,
        html: bool,
    },
    Redirect {
        status: u16,
        location: Option<String>,
    },
    UnexpectedStatus {
        status: u16,
        message: Option<String>,
    },
    Timeout {
        after: Duration,
    },
    Connect {
        detail: String,
    },
    Transport {
        detail: String,
    },
    /// An answer bigger than the client reads.
    TooLarge {
        status: u16,
        limit: usize,
    },
    /// A 2xx answer whose body is not what the endpoint returns.
    Decode {
        status: u16,
        error: WireError,
    },
}

/// A failed call: which endpoint, and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub endpoint: Endpoint,
    pub kind: ApiErrorKind,
}

impl ApiError {
    pub fn new(endpoint: Endpoint, kind: ApiErrorKind) -> Self {
        ApiError { endpoint, kind }
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<u16> {
        use ApiErrorKind::*;
        match &self.kind {
            Unauthorized => Some(401),
            PaymentRequired => Some(402),
            Forbidden { .. } => Some(403),
            NotFound { .. } => Some(404),
            RateLimited { .. } => Some(429),
            LoginRejected { status, .. }
            | ServerError { status, .. }
            | Gateway { status, .. }
            | Redirect { status, .. }
            | UnexpectedStatus { status, .. }
            | Decode { status, .. }
            | TooLarge { status, .. } => Some(*status),
            TwoFactorRequired { .. } => Some(200),
            Timeout { .. } | Connect { .. } | Transport { .. } => None,
        }
    }

    /// Is the portal refusing us as a whole (credentials, payment, permission)? Then
    /// further calls in the same pass are pointless.
    pub fn is_access_problem(&self) -> bool {
        matches!(
            self.kind,
            ApiErrorKind::Unauthorized
                | ApiErrorKind::LoginRejected { .. }
                | ApiErrorKind::TwoFactorRequired { .. }
                | ApiErrorKind::PaymentRequired
                | ApiErrorKind::Forbidden { .. }
        )
    }

    /// Builds the error for a non-2xx answer from its status, headers and body.
    pub(crate) fn from_answer(
        endpoint: Endpoint,
        status: u16,
        retry_after: Option<Duration>,
        location: Option<String>,
        body: &[u8],
    ) -> Self {
        let message = wire::error_message(body);
        let kind = match status {
            401 => ApiErrorKind::Unauthorized,
            402 => ApiErrorKind::PaymentRequired,
            403 => ApiErrorKind::Forbidden { message },
            404 => ApiErrorKind::NotFound { message },
            429 => ApiErrorKind::RateLimited { retry_after },
            502..=504 => ApiErrorKind::Gateway {
                status,
                html: wire::looks_like_html(body),
            },
            300..=399 => ApiErrorKind::Redirect { status, location },
            500..=599 => ApiErrorKind::ServerError {
                status,
                message: message.or_else(|| (!body.is_empty()).then(|| wire::snippet(body))),
            },
            _ => ApiErrorKind::UnexpectedStatus { status, message },
        };
        ApiError { endpoint, kind }
    }
}

fn server_says(f: &mut fmt::Formatter<'_>, message: &Option<String>) -> fmt::Result {
    match message {
        Some(m) => write!(f, " (server: {m:?})"),
        None => Ok(()),
    }
}

impl fmt::Display for ApiErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ApiErrorKind::*;
        match self {
            Unauthorized => {
                f.write_str("401 Unauthorized: API key rejected (is it valid, unexpired, and sent for this portal?)")
            }
            LoginRejected { user, status } => {
                write!(f, "{status}: login as {user:?} rejected (wrong user name or password?)")
            }
            TwoFactorRequired { user } => write!(
                f,
                "login as {user:?} needs two-factor authentication, which a service cannot answer; use an API key"
            ),
            PaymentRequired => f.write_str("portal unpaid (402): payment required, or over its quota"),
            Forbidden { message } => {
                f.write_str(
                    "403 Forbidden: needs owner or admin (backup calls need the portal owner or a DocSpace admin)",
                )?;
                server_says(f, message)
            }
            NotFound { message } => {
                f.write_str("404 Not Found (is the portal url right, including any path prefix?)")?;
                server_says(f, message)
            }
            RateLimited { retry_after } => {
                f.write_str("429 Too Many Requests: rate limited by the server")?;
                match retry_after {
                    Some(d) => write!(f, " (retry after {}s)", d.as_secs()),
                    None => Ok(()),
                }
            }
            ServerError { status, message } => {
                write!(f, "{status} server error")?;
                server_says(f, message)
            }
            Gateway { status, html } => {
                let name = match status {
                    502 => "Bad Gateway",
                    503 => "Service Unavailable",
                    _ => "Gateway Timeout",
                };
                write!(f, "{status} {name}: the portal or its reverse proxy is unavailable")?;
                if *html {
                    f.write_str(" (HTML error page, not a DocSpace answer)")?;
                }
                Ok(())
            }
            Redirect { status, location } => write!(
                f,
                "{status} redirect to {} (use the final portal url in the config)",
                location.as_deref().map_or("an unknown location".into(), wire::shown)
            ),
            UnexpectedStatus { status, message } => {
                write!(f, "unexpected HTTP status {status}")?;
                server_says(f, message)
            }
            Timeout { after } => write!(f, "timed out after {}s", after.as_secs_f64()),
            Connect { detail } => write!(f, "cannot connect: {detail}"),
            Transport { detail } => write!(f, "request failed: {detail}"),
            Decode { status, error } => write!(f, "{status} with an unreadable body: {error}"),
            TooLarge { status, limit } => write!(
                f,
                "{status} with a body over {} MiB: refused, nothing read",
                limit / (1024 * 1024)
            ),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.endpoint.as_str(), self.kind)
    }
}

impl std::error::Error for ApiError {}
