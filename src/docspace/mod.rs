//! Talking to a DocSpace portal over HTTP: the calls (`endpoint`), typed errors
//! (`error`), the client that sends every request (`client`) and the factory that
//! builds one per portal (`clients`). The JSON itself is `crate::wire`'s business;
//! nothing outside this module knows a URL path.

mod client;
mod clients;
mod endpoint;
mod error;

pub use client::{Credential, DocSpaceClient, PortalEndpoint, RequestEvent, RequestHook, http_client};
pub use clients::{Clients, HookFactory};
pub use endpoint::Endpoint;
pub use error::{ApiError, ApiErrorKind};
