//! What makes two portals one (docs/reference.md, "Gates", "One portal, whatever its
//! spelling"): a URL compared by what it addresses, not by how it is spelled, and what
//! the server says about itself.
//!
//! Two spellings of one portal behind two names would each delete what the other
//! protects, under two locks. So a portal is first its canonical URL (config
//! validation refuses two entries with one, and an ad-hoc `--url` that is a
//! configured portal is that portal), then the tenant its server reports
//! (`GET /api/2.0/settings`, anonymous): the fleet refuses a pass of a second portal
//! the server names as the tenant of another.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use url::{Host, Url};

/// The URL as what it addresses: the host without case (every loopback name and
/// address as `127.0.0.1`, no trailing dot), the port unless it is its scheme's
/// default, and the path decoded, without case, repeated or trailing slashes. The
/// scheme is left out: `http://` and `https://` of one host are one portal (a proxy
/// that redirects one to the other), and treating them as one only refuses more.
pub fn canonical_url(url: &Url) -> String {
    let host = match url.host() {
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                "127.0.0.1".to_string()
            } else {
                d
            }
        }
        Some(Host::Ipv4(ip)) if ip.is_loopback() => "127.0.0.1".to_string(),
        Some(Host::Ipv6(ip)) if ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()) => {
            "127.0.0.1".to_string()
        }
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => format!("[{ip}]"),
        None => String::new(),
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path: Vec<String> = url
        .path()
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .to_lowercase()
        })
        .filter(|s| !s.is_empty())
        .collect();
    let path = if path.is_empty() {
        String::new()
    } else {
        format!("/{}", path.join("/"))
    };
    format!("{host}{port}{path}")
}

/// The name an ad-hoc `--url` target is known by in locks, the audit log and messages:
/// its canonical URL with every character a file name cannot hold replaced, and a hash
/// of the canonical URL (`/c_d` and `/c/d` read alike). It starts with `url-` and holds
/// a dot or `_`, so it never equals a configured portal's name.
pub fn adhoc_name(url: &Url) -> String {
    let canonical = canonical_url(url);
    let safe: String = canonical
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("url-{safe}_{:08x}", crate::shard::stable_hash(&canonical) as u32)
}

/// Who a server says it is: its tenant's alias and whether it is an on-premise
/// installation, with the dump flag of the target (the dump is another history).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tenant {
    pub alias: String,
    pub standalone: bool,
    pub dump: bool,
}

impl std::fmt::Display for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tenantAlias {:?}, {}{}",
            self.alias,
            if self.standalone { "standalone" } else { "cloud" },
            if self.dump { ", dump" } else { "" }
        )
    }
}

/// A portal as its server identified it: the tenant, and the addresses its URL
/// resolved to (two servers may both call their tenant "localhost"; one server
/// reached by two names answers on the same address).
#[derive(Clone, Debug)]
pub struct Identified {
    pub tenant: Tenant,
    pub addresses: Vec<SocketAddr>,
}

impl Identified {
    fn same_portal(&self, other: &Identified) -> bool {
        self.tenant == other.tenant && self.addresses.iter().any(|a| other.addresses.contains(a))
    }
}

/// The addresses `url`'s host resolves to, loopback names as one.
pub async fn addresses(url: &Url) -> Vec<SocketAddr> {
    let Some(port) = url.port_or_known_default() else {
        return Vec::new();
    };
    let loopback = |a: SocketAddr| match a.ip() {
        ip if ip.is_loopback() => SocketAddr::new(IpAddr::from([127, 0, 0, 1]), a.port()),
        _ => a,
    };
    let found: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
        Some(Host::Domain(d)) => tokio::net::lookup_host((d, port))
            .await
            .map(|a| a.collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut out: Vec<SocketAddr> = found.into_iter().map(loopback).collect();
    out.sort();
    out.dedup();
    out
}

/// The tenants the portals of one fleet (a daemon, a `once`) were identified as. Once
/// two portals are seen as one tenant, both are refused from then on (neither
/// definition's gates can be trusted to be the whole truth about that portal) until a
/// reload removes one of them.
#[derive(Debug, Default)]
pub struct Tenants {
    seen: Mutex<HashMap<String, Identified>>,
}

impl Tenants {
    /// Records `portal` as `identified`, or names a portal that is that tenant too.
    pub fn claim(&self, portal: &str, identified: Identified) -> Result<(), String> {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut twins: Vec<&String> = seen
            .iter()
            .filter(|(name, known)| name.as_str() != portal && known.same_portal(&identified))
            .map(|(name, _)| name)
            .collect();
        twins.sort();
        let refused = twins.first().map(|other| {
            format!(
                "refused: the server says this is the same portal as portals.{other} ({}): one portal, one \
                 definition; remove one of them from the config",
                identified.tenant
            )
        });
        // Remembered either way: the first of the two is refused at its next pass too.
        seen.insert(portal.to_string(), identified);
        refused.map_or(Ok(()), Err)
    }

    /// Forgets a portal (removed by a reload).
    pub fn forget(&self, portal: &str) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(portal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_portal_are_one_url() {
        let c = |s: &str| canonical_url(&Url::parse(s).unwrap());
        let one = c("http://127.0.0.1:8080/p/acme");
        for spelling in [
            "http://LocalHost:8080/p/acme/",
            "https://127.0.0.1:8080/p/acme",
            "http://127.0.0.1:8080/p/%61cme",
            "HTTP://localhost:8080/P/Acme",
            "http://127.0.0.1:8080//p//acme//",
            "http://[::1]:8080/p/acme",
            "http://127.0.0.2:8080/p/acme",
            "http://app.localhost:8080/p/acme",
        ] {
            assert_eq!(c(spelling), one, "{spelling}");
        }
        assert_eq!(c("https://Acme.Example.com./"), c("https://acme.example.com:443"));
        assert_eq!(c("http://acme.example.com"), c("https://acme.example.com/"));
        assert_eq!(c("http://acme.example.com"), "acme.example.com");
        for other in [
            "http://127.0.0.1:8081/p/acme",
            "http://127.0.0.1:8080/p/acme2",
            "http://10.0.0.1:8080/p/acme",
        ] {
            assert_ne!(c(other), one, "{other}");
        }
    }

    #[test]
    fn adhoc_names_are_never_portal_names() {
        let n = adhoc_name(&Url::parse("http://LocalHost:8080/p/acme/").unwrap());
        assert!(n.starts_with("url-127.0.0.1_8080_p_acme_"), "{n}");
        assert!(n.contains('.') || n.contains('_'));
        let a = adhoc_name(&Url::parse("http://h/c_d").unwrap());
        let b = adhoc_name(&Url::parse("http://h/c/d").unwrap());
        assert_ne!(a, b);
    }

    #[test]
    fn a_tenant_is_held_by_the_first_portal_seen_as_it() {
        let at = |port: u16| vec![SocketAddr::from(([127, 0, 0, 1], port))];
        let acme = |addresses| Identified {
            tenant: Tenant {
                alias: "acme".into(),
                standalone: false,
                dump: false,
            },
            addresses,
        };
        let tenants = Tenants::default();
        tenants.claim("acme", acme(at(80))).unwrap();
        tenants.claim("acme", acme(at(80))).unwrap();
        let e = tenants.claim("acme-alias", acme(at(80))).unwrap_err();
        assert!(e.contains("same portal as portals.acme "), "{e}");
        // From then on the first is refused too.
        let e = tenants.claim("acme", acme(at(80))).unwrap_err();
        assert!(e.contains("same portal as portals.acme-alias "), "{e}");
        // Another server that calls its tenant the same: not the same portal.
        tenants.claim("elsewhere", acme(at(81))).unwrap();
        // The dump of the same server is another history.
        let mut dump = acme(at(80));
        dump.tenant.dump = true;
        tenants.claim("acme-dump", dump).unwrap();
        // A reload removes one: the other runs again.
        tenants.forget("acme");
        tenants.claim("acme-alias", acme(at(80))).unwrap();
    }
}
