//! `[evidence]`: the key that signs the audit log's checkpoints (docs/reference.md,
//! "Evidence").

use super::check::Checker;

/// `[evidence] signing_key_file`: the Ed25519 key that signs the audit log's
/// checkpoints, and its file. Like an API key file: a systemd credential path is read
/// from the credentials directory in a shell, a file others can read is a warning, and
/// nothing of its contents reaches an error.
pub(super) fn evidence(
    c: &mut Checker<'_>,
    raw: &super::raw::RawConfig,
) -> (Option<crate::evidence::Signer>, Option<std::path::PathBuf>) {
    let e = c.table("evidence", &raw.evidence);
    c.unknown("evidence", &e.unknown, super::raw::EVIDENCE_KEYS);
    let path = "evidence.signing_key_file";
    let Some(name) = c.get(path, &e.signing_key_file).filter(|f| !f.trim().is_empty()) else {
        return (None, None);
    };
    let file = c.credential_path(c.resolve(false, std::path::PathBuf::from(name.trim())));
    let bytes = match std::fs::read(&file) {
        Ok(bytes) => bytes,
        Err(e) => {
            c.err(path, super::portal::unreadable_file(&e));
            return (None, Some(file));
        }
    };
    use std::os::unix::fs::PermissionsExt;
    if std::fs::metadata(&file).is_ok_and(|m| m.permissions().mode() & 0o044 != 0) {
        c.warnings.push(format!(
            "{path}: the file is readable by its group or by others; chmod 600 it"
        ));
    }
    match crate::evidence::Signer::from_bytes(&bytes) {
        Ok(signer) => (Some(signer), Some(file)),
        Err(e) => {
            c.err(path, e);
            (None, Some(file))
        }
    }
}
