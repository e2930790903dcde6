//! `check-config --print`: the effective config, every portal fully resolved, in the
//! same TOML shape the file uses, with every secret value shown as `"***"`.

use toml::{Table, Value};

use super::settings::{Config, CredentialSource, LogFormat};
use crate::retention::{Keep, RULES, RetentionPolicy, RuleKind, StaleAfter};
use crate::secret::REDACTED;

pub fn print_config(config: &Config) -> String {
    let mut root = Table::new();

    let mut server = Table::new();
    server.insert("listen".into(), config.server.listen.to_string().into());
    root.insert("server".into(), server.into());

    let mut daemon = Table::new();
    daemon.insert(
        "max_concurrent_portals".into(),
        (config.daemon.max_concurrent_portals as i64).into(),
    );
    daemon.insert(
        "shutdown_grace_secs".into(),
        (config.daemon.shutdown_grace.as_secs() as i64).into(),
    );
    daemon.insert("state_dir".into(), config.daemon.state_dir.display().to_string().into());
    if let Some(shard) = config.daemon.shard {
        daemon.insert("shard".into(), shard.to_string().into());
    }
    root.insert("daemon".into(), daemon.into());

    let mut log = Table::new();
    log.insert("level".into(), config.log.level.clone().into());
    let format = match config.log.format {
        LogFormat::Text => "text",
        LogFormat::Json => "json",
    };
    log.insert("format".into(), format.into());
    let directory = config
        .log
        .directory
        .as_ref()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    log.insert("directory".into(), directory.into());
    root.insert("log".into(), log.into());

    let mut picture = Table::new();
    let forecast = config
        .picture_forecast
        .map_or_else(|| "0d".to_string(), |d| d.to_string());
    picture.insert("forecast".into(), forecast.into());
    root.insert("picture".into(), picture.into());
    let mut metrics = Table::new();
    metrics.insert("per_portal".into(), config.metrics_per_portal.as_str().into());
    root.insert("metrics".into(), metrics.into());
    if let Some(file) = &config.evidence.signing_key_file {
        let mut evidence = Table::new();
        evidence.insert("signing_key_file".into(), file.display().to_string().into());
        root.insert("evidence".into(), evidence.into());
    }

    let mut portals = Table::new();
    for p in &config.portals {
        let mut t = Table::new();
        t.insert("url".into(), p.url.as_str().into());
        match &p.credential_source {
            CredentialSource::ApiKeyFile(path) => {
                t.insert("api_key_file".into(), path.display().to_string().into());
            }
            CredentialSource::ApiKeyEnv(var) => {
                t.insert("api_key_env".into(), var.clone().into());
            }
            CredentialSource::ApiKeyInline => {
                t.insert("api_key".into(), REDACTED.into());
            }
            CredentialSource::Login { user, password_file } => {
                let mut login = Table::new();
                login.insert("user".into(), user.clone().into());
                login.insert("password_file".into(), password_file.display().to_string().into());
                t.insert("login".into(), login.into());
            }
        }
        if let Some(ca) = &p.ca_file {
            t.insert("ca_file".into(), ca.display().to_string().into());
        }
        t.insert("schedule".into(), p.schedule.clone().into());
        t.insert("timezone".into(), p.timezone.name().into());
        t.insert("jitter_secs".into(), (p.jitter_secs as i64).into());
        t.insert("dry_run".into(), p.dry_run.into());
        t.insert("dump".into(), p.dump.into());
        t.insert(
            "request_timeout_secs".into(),
            (p.request_timeout.as_secs() as i64).into(),
        );
        t.insert("max_retries".into(), i64::from(p.max_retries).into());
        t.insert("requests_per_minute".into(), i64::from(p.requests_per_minute).into());
        t.insert("retention".into(), retention_table(&p.retention).into());
        t.insert("health".into(), health_table(&p.health).into());
        if let Some(n) = &p.notify {
            let mut notify = Table::new();
            // The URL often carries a token: a secret like a key.
            notify.insert("url".into(), REDACTED.into());
            let format = match n.format {
                crate::notify::NotifyFormat::Ping => "ping",
                crate::notify::NotifyFormat::Json => "json",
            };
            notify.insert("format".into(), format.into());
            t.insert("notify".into(), notify.into());
        }
        portals.insert(p.name.clone(), t.into());
    }
    root.insert("portals".into(), portals.into());
    toml::to_string_pretty(&root).expect("a table of plain values serializes")
}

pub(crate) fn health_table(h: &crate::health::HealthPolicy) -> Table {
    let mut t = Table::new();
    t.insert("enabled".into(), h.enabled.into());
    t.insert("late_after".into(), format!("{}s", h.late_after.num_seconds()).into());
    let offset = h.server_utc_offset.map(|o| o.to_string()).unwrap_or_default();
    t.insert("server_utc_offset".into(), offset.into());
    t.insert("min_size_ratio".into(), h.min_size_ratio.into());
    t.insert("max_duration_ratio".into(), h.max_duration_ratio.into());
    t.insert("baseline".into(), (h.baseline as i64).into());
    t.insert("keep_healthy".into(), (h.keep_healthy as i64).into());
    t
}

pub(crate) fn retention_table(r: &RetentionPolicy) -> Table {
    let mut t = Table::new();
    for def in &RULES {
        let value: Value = match (def.kind, r.rule(def.rule)) {
            (RuleKind::Count, Keep::Count(n)) => n.into(),
            (RuleKind::Count, _) => 0.into(),
            (RuleKind::Window, Keep::Within(d)) => d.to_string().into(),
            (RuleKind::Window, _) => "".into(),
        };
        t.insert(def.key.into(), value);
    }
    t.insert(
        "protect".into(),
        Value::Array(r.protect.iter().map(|id| id.to_string().into()).collect()),
    );
    t.insert(
        "storage_types".into(),
        Value::Array(r.storage_types.iter().map(|s| s.name().into()).collect()),
    );
    t.insert("min_keep".into(), i64::from(r.min_keep).into());
    t.insert(
        "max_deletions_per_run".into(),
        i64::from(r.max_deletions_per_run).into(),
    );
    t.insert("max_delete_fraction".into(), r.max_delete_fraction.into());
    let stale = match r.stale_after {
        StaleAfter::Auto => "auto".to_string(),
        StaleAfter::Off => "off".to_string(),
        StaleAfter::After(d) => d.to_string(),
    };
    t.insert("stale_after".into(), stale.into());
    t.insert("future_tolerance_secs".into(), (r.future_tolerance_secs as i64).into());
    t.insert("clear_history".into(), r.clear_history.into());
    t.insert(
        "max_age".into(),
        r.max_age.map(|d| d.to_string()).unwrap_or_default().into(),
    );
    t.insert("delete_grace".into(), format!("{}s", r.delete_grace.as_secs()).into());
    t
}

/// The hash of a portal's effective policy (its retention and health tables as
/// `check-config --print` shows them, as canonical JSON): what `attest` shows per pass.
pub fn policy_hash(p: &super::PortalConfig) -> String {
    use sha2::Digest;
    let policy = serde_json::json!({
        "retention": retention_table(&p.retention),
        "health": health_table(&p.health),
    });
    hex::encode(sha2::Sha256::digest(crate::evidence::canonical(&policy)))
}
