//! `attest` and `evidence public-key` (docs/reference.md, "Evidence"): what an auditor
//! is handed. `attest` reads the audit log and the state database only: no server is
//! asked anything.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{Context, Ended, fail};
use crate::calendar::parse_instant;

/// What `attest` was asked for: its command-line arguments.
#[derive(clap::Args, Debug)]
pub struct AttestRequest {
    /// The portal (repeat for more: the audit log is read once for all of them)
    #[arg(long = "portal", value_name = "NAME", required_unless_present_any = ["verify", "all"])]
    pub portals: Vec<String>,
    /// Every portal of the config
    #[arg(long, conflicts_with = "portals")]
    pub all: bool,
    /// The span's start (RFC 3339)
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant, required_unless_present = "verify")]
    pub from: Option<DateTime<Utc>>,
    /// The span's end (RFC 3339)
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant, required_unless_present = "verify")]
    pub to: Option<DateTime<Utc>>,
    /// Machine-readable output
    #[arg(long, conflicts_with = "html")]
    pub json: bool,
    /// Write it as a self-contained HTML page
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Check the audit log's chain (and, with --public-key, its signatures) instead
    #[arg(long, conflicts_with_all = ["portals", "all", "from", "to", "json", "html"])]
    pub verify: bool,
    /// The signing key's public half (PEM or 64 hex digits), for --verify; repeat it
    /// for a log signed with several keys over time
    #[arg(long = "public-key", value_name = "FILE", requires = "verify")]
    pub public_key: Vec<PathBuf>,
}

pub fn attest(ctx: &Context, r: &AttestRequest) -> Ended {
    let config = match ctx.load(true, false) {
        Ok(c) => c,
        Err(ended) => return ended,
    };
    let log = config.daemon.state_dir.join(crate::state::audit::AUDIT_FILE);
    if r.verify {
        return verify(&log, &r.public_key);
    }
    let (Some(from), Some(to)) = (r.from, r.to) else {
        super::error("attest needs --portal NAME (or --all), --from and --to (or --verify)");
        return Ended::Usage;
    };
    if from > to {
        super::error("--from is after --to");
        return Ended::Usage;
    }
    let mut names: Vec<String> = match r.all {
        true => config
            .portals
            .iter()
            .map(|p| p.name.clone())
            .chain(config.disabled.iter().cloned())
            .collect(),
        false => r.portals.clone(),
    };
    names.sort();
    names.dedup();
    let db = match crate::state::read_only(&config.daemon.state_dir) {
        Ok(db) => db,
        Err(e) => return fail(e),
    };
    // The log is read once per batch of portals: memory stays bounded however many.
    let mut page = String::new();
    let mut first = true;
    if r.json && names.len() > 1 {
        crate::out!("[");
    }
    for batch in names.chunks(BATCH) {
        let mut portals = std::collections::BTreeMap::new();
        for name in batch {
            let observations = match &db {
                Some(db) => match db.observations(name) {
                    Ok(o) => o,
                    Err(e) => return fail(e),
                },
                None => Vec::new(),
            };
            portals.insert(name.clone(), observations);
        }
        let attestations = match crate::evidence::attest::attest_many(&log, &portals, from, to) {
            Ok(a) => a,
            Err(e) => return fail(e),
        };
        let empty: Vec<&str> = attestations
            .iter()
            .filter(|a| {
                a["passes"].as_array().is_none_or(Vec::is_empty) && a["backups"].as_array().is_none_or(Vec::is_empty)
            })
            .filter_map(|a| a["portal"].as_str())
            .collect();
        if !r.all && !empty.is_empty() {
            return fail(format!(
                "nothing is recorded for portal {} in that span: no pass in the audit log and no backup in the \
                 state database",
                empty.join(", ")
            ));
        }
        for a in &attestations {
            if r.html.is_some() {
                page.push_str(&crate::evidence::attest::html(a));
            } else if r.json {
                match names.len() {
                    1 => crate::outln!("{a}"),
                    _ => crate::out!("{}{a}", if std::mem::take(&mut first) { "" } else { "," }),
                }
            } else {
                crate::out!("{}", crate::evidence::attest::text(a));
            }
        }
    }
    if r.json && names.len() > 1 {
        crate::outln!("]");
    }
    if let Some(file) = &r.html
        && let Err(e) = std::fs::write(file, page)
    {
        return fail(format!("cannot write {}: {e}", file.display()));
    }
    Ended::Success
}

/// How many portals one reading of the audit log attests.
const BATCH: usize = 50;

fn verify(log: &Path, public_keys: &[PathBuf]) -> Ended {
    let mut keys = Vec::new();
    for file in public_keys {
        match std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the public key {}: {e}", file.display()))
            .and_then(|text| crate::evidence::sign::public_key(&text).map_err(|e| format!("{}: {e}", file.display())))
        {
            Ok(key) => keys.push(key),
            Err(e) => {
                super::error(e);
                return Ended::Usage;
            }
        }
    }
    let files = crate::evidence::chain_files(log);
    match crate::evidence::verify(&files, &keys) {
        Err(broken) => fail(format!("the audit chain is broken: {broken}")),
        Ok(v) => {
            let mut line = format!(
                "the audit chain holds: {} lines in {} file{}",
                v.lines,
                files.len(),
                if files.len() == 1 { "" } else { "s" }
            );
            if let (Some(first), Some(last)) = (&v.first, &v.last) {
                line.push_str(&format!(
                    ", seq {} to {} (last hash {})",
                    first.seq, last.seq, last.hash
                ));
            }
            if let Some(earlier) = v.earlier {
                line.push_str(&format!(
                    "; it begins at seq {}: the {earlier} lines before are in files not read (compressed or removed)",
                    earlier + 1
                ));
            }
            if v.unchained > 0 {
                line.push_str(&format!("; {} earlier lines before the chain began", v.unchained));
            }
            if v.torn > 0 {
                line.push_str(&format!(
                    "; {} lines cut short by a crash, named by the line after",
                    v.torn
                ));
            }
            match (v.signatures_checked, v.signed_through) {
                (false, _) => line.push_str("; signatures not checked (no --public-key)"),
                (true, None) => line.push_str("; no signed checkpoint: nothing is signed"),
                (true, Some(seq)) => {
                    line.push_str(&format!(
                        "; {} checkpoints hold, signed through seq {seq}",
                        v.checkpoints
                    ));
                    if v.unsigned_tail > 0 {
                        line.push_str(&format!(
                            "; the {} lines after it are an unsigned tail (not yet evidence)",
                            v.unsigned_tail
                        ));
                    }
                }
            }
            crate::outln!("{line}");
            Ended::Success
        }
    }
}

/// `evidence public-key`: the public half of `evidence.signing_key_file`, in PEM.
pub fn public_key(ctx: &Context) -> Ended {
    let config = match ctx.load(true, false) {
        Ok(c) => c,
        Err(ended) => return ended,
    };
    match &config.evidence.signer {
        Some(signer) => {
            crate::out!("{}", signer.public_pem());
            Ended::Success
        }
        None => {
            super::error("evidence.signing_key_file is not set: there is no key to show");
            Ended::Config
        }
    }
}
