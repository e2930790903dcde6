//! `docspace-retention man` and `completions SHELL`: what is generated from the command
//! line's grammar. For the manual page clap writes the commands and options; the
//! sections an operator looks for next are added here: the configuration keys, the exit
//! codes, the files and the environment.

use crate::config::raw_keys;
use crate::retention::RULES;

/// The completion script of `shell` for the command line `cmd`.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "docspace-retention", &mut script);
    script
}

/// The whole page in roff.
pub fn page(cmd: clap::Command) -> Result<Vec<u8>, std::io::Error> {
    let man = clap_mangen::Man::new(cmd);
    let mut out = Vec::new();
    man.render(&mut out)?;
    out.extend_from_slice(extra().as_bytes());
    Ok(out)
}

fn keys(list: &[&str]) -> String {
    list.iter()
        .map(|k| format!("\\fB{k}\\fR"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn extra() -> String {
    let [server, daemon, log, portal, retention] = raw_keys();
    let rules: Vec<&str> = RULES.iter().map(|r| r.key).collect();
    format!(
        r#".SH CONFIGURATION
TOML, merged in this order, later wins: built\-in defaults, the config file, every
\fI*.toml\fR in \fIconf.d/\fR beside it (portal tables only), environment variables
\fBDOCSPACE_RETENTION_\fR\fIKEY\fR with \fB__\fR between levels, then flags. Unknown keys are errors.
.TP
\fB[server]\fR
{server}
.TP
\fB[daemon]\fR
{daemon}
.TP
\fB[log]\fR
{log}
.TP
\fB[picture]\fR
\fBforecast\fR: how far the page looks ahead (default 90d, 0d for none)
.TP
\fB[metrics]\fR
\fBper_portal\fR: whose per-portal series /metrics shows: all, failing or none (default all up to 10,000 portals, failing above)
.TP
\fB[defaults]\fR, \fB[templates.\fR\fINAME\fR\fB]\fR, \fB[portals.\fR\fINAME\fR\fB]\fR
{portal}, \fBtemplate\fR (a portal only); exactly one credential per portal
.TP
\fB[*.retention]\fR
{rules}, {retention}
.SH EXIT STATUS
.TP
\fB0\fR
success
.TP
\fB1\fR
a runtime failure: a portal's pass or an API call failed, \fBhealthcheck\fR got no 200
.TP
\fB2\fR
a usage error: bad arguments, an unknown \fB\-\-portal\fR
.TP
\fB3\fR
\fBplan \-\-what\-if\fR only: the change would change what is deleted
.TP
\fB65\fR
the state database is damaged or unreadable at \fBrun\fR's start; restarting will not help
.TP
\fB78\fR
a configuration error; systemd does not restart on 65 or 78
.SH FILES
.TP
\fI/etc/docspace\-retention/config.toml\fR
the configuration, with \fIconf.d/\fR beside it
.TP
\fI/etc/docspace\-retention/credentials/\fR
the portals' API keys, one file per portal, handed to the service as systemd credentials
.TP
\fI/var/lib/docspace\-retention/\fR
the state directory: \fIaudit.jsonl\fR (the audit log), \fIstate.db\fR, \fIlocks/\fR
.TP
\fI/usr/share/doc/docspace\-retention/\fR
\fIreference.md\fR (every command, key, metric and rule), \fIrunbook.md\fR (every alert)
.SH ENVIRONMENT
.TP
\fBDOCSPACE_RETENTION_CONFIG\fR
the config file, when \fB\-\-config\fR is not given
.TP
\fBDOCSPACE_RETENTION_CREDENTIALS_DIRECTORY\fR
where a command from a shell reads the keys the config names under \fI/run/credentials/\fR
.TP
\fBRUST_LOG\fR
a log filter that wins over \fBlog.level\fR
"#,
        server = keys(server),
        daemon = keys(daemon),
        log = keys(log),
        portal = keys(portal),
        rules = keys(&rules),
        retention = keys(retention),
    )
}
