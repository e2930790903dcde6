//! Builds the client of each portal: one shared connection pool for every portal
//! (a fleet of thousands must not hold thousands of pools), a separate one only for
//! a portal with its own CA, and the request hook the observer hands out.

use std::sync::Arc;

use super::client::{DocSpaceClient, PortalEndpoint, RequestHook, http_client};

/// Hands out the request hook of a portal (the observer implements it).
pub trait HookFactory: Send + Sync {
    fn hook(&self, portal: &str) -> Arc<dyn RequestHook>;
}

pub struct Clients {
    shared: reqwest::Client,
    hooks: Option<Arc<dyn HookFactory>>,
}

impl Clients {
    /// Clients whose requests nobody counts (they are logged at debug level).
    pub fn new() -> Result<Self, String> {
        Ok(Clients {
            shared: http_client(None)?,
            hooks: None,
        })
    }

    /// Clients that tell `hooks` about every request of every portal.
    pub fn observed(hooks: Arc<dyn HookFactory>) -> Result<Self, String> {
        Ok(Clients {
            shared: http_client(None)?,
            hooks: Some(hooks),
        })
    }

    /// The client of portal `name`.
    pub fn client(&self, name: &str, endpoint: PortalEndpoint) -> Result<DocSpaceClient, String> {
        let http = match &endpoint.ca_file {
            Some(ca) => http_client(Some(ca))?,
            None => self.shared.clone(),
        };
        let client = DocSpaceClient::new(http, endpoint);
        Ok(match &self.hooks {
            Some(hooks) => client.with_hook(hooks.hook(name)),
            None => client,
        })
    }
}
