//! Builds the client of each portal: one shared connection pool for every portal
//! (a fleet of thousands must not hold thousands of pools), one more per private CA
//! (shared by the portals that name the same CA file), and the request hook the
//! observer hands out.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::client::{DocSpaceClient, PortalEndpoint, RequestHook, http_client};

/// Hands out the request hook of a portal (the observer implements it).
pub trait HookFactory: Send + Sync {
    fn hook(&self, portal: &str) -> Arc<dyn RequestHook>;
}

/// A CA file as it is on disk now: a file replaced or edited is another CA.
type CaKey = (PathBuf, Option<SystemTime>, u64);

pub struct Clients {
    shared: reqwest::Client,
    with_ca: Mutex<HashMap<CaKey, reqwest::Client>>,
    hooks: Option<Arc<dyn HookFactory>>,
}

impl Clients {
    /// Clients whose requests nobody counts (they are logged at debug level).
    pub fn new() -> Result<Self, String> {
        Ok(Clients {
            shared: http_client(None)?,
            with_ca: Mutex::new(HashMap::new()),
            hooks: None,
        })
    }

    /// Clients that tell `hooks` about every request of every portal.
    pub fn observed(hooks: Arc<dyn HookFactory>) -> Result<Self, String> {
        Ok(Clients {
            hooks: Some(hooks),
            ..Clients::new()?
        })
    }

    /// The client of portal `name`.
    pub fn client(&self, name: &str, endpoint: PortalEndpoint) -> Result<DocSpaceClient, String> {
        let http = match &endpoint.ca_file {
            Some(ca) => {
                let meta = std::fs::metadata(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
                let key = (ca.clone(), meta.modified().ok(), meta.len());
                let mut with_ca = self.with_ca.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match with_ca.get(&key) {
                    Some(http) => http.clone(),
                    None => {
                        let http = http_client(Some(ca))?;
                        // Only the CA as it is now is worth keeping.
                        with_ca.retain(|(path, _, _), _| path != ca);
                        with_ca.insert(key, http.clone());
                        http
                    }
                }
            }
            None => self.shared.clone(),
        };
        let client = DocSpaceClient::new(http, endpoint);
        Ok(match &self.hooks {
            Some(hooks) => client.with_hook(hooks.hook(name)),
            None => client,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docspace::Credential;
    use crate::secret::Secret;

    fn endpoint(url: &str, ca: &std::path::Path) -> PortalEndpoint {
        PortalEndpoint {
            url: reqwest::Url::parse(url).unwrap(),
            credential: Credential::ApiKey(Secret::new("k")),
            request_timeout: std::time::Duration::from_secs(1),
            max_retries: 0,
            requests_per_minute: 600,
            dump: false,
            ca_file: Some(ca.to_path_buf()),
        }
    }

    /// Portals behind one private CA share one client (a TLS config and a pool each
    /// would be megabytes a portal at fleet size); an edited CA file is a new client.
    #[test]
    fn portals_naming_one_ca_file_share_a_client_until_the_file_changes() {
        let bundle = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap();
        let certs: Vec<&str> = bundle.split_inclusive("-----END CERTIFICATE-----\n").take(2).collect();
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, certs[0]).unwrap();
        let clients = Clients::new().unwrap();
        for n in 0..3 {
            clients
                .client(&format!("p{n}"), endpoint(&format!("https://p{n}.example"), &ca))
                .unwrap();
        }
        assert_eq!(clients.with_ca.lock().unwrap().len(), 1);
        std::fs::write(&ca, certs.concat()).unwrap();
        clients.client("p9", endpoint("https://p9.example", &ca)).unwrap();
        let with_ca = clients.with_ca.lock().unwrap();
        assert_eq!(with_ca.len(), 1, "the old CA's client is dropped");
        assert!(with_ca.keys().all(|(_, _, len)| *len == certs.concat().len() as u64));
    }
}
