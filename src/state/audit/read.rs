//! Reading a portal's entries back from the log (recovery, `attest`, the sentinel).

use std::fs::File;
use std::path::Path;

use super::*;

/// `portal`'s entries in the file at `path` from byte `offset` on; a line cut at
/// `offset` (another process was writing) is skipped, lines that are not audit entries
/// are ignored.
pub(super) fn read_lines(path: &Path, offset: u64, portal: &str) -> std::io::Result<Vec<AuditEntry>> {
    use std::io::{BufRead, Read, Seek, SeekFrom};
    // A log rotated away and not written since holds nothing yet.
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let start = offset.min(file.metadata()?.len());
    let mut cut = false;
    if start > 0 {
        file.seek(SeekFrom::Start(start - 1))?;
        let mut before = [0u8];
        file.read_exact(&mut before)?;
        cut = before[0] != b'\n';
    }
    let mut reader = std::io::BufReader::new(file);
    let mut entries = Vec::new();
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if std::mem::take(&mut first) && cut {
            continue;
        }
        if let Ok(entry) = serde_json::from_slice::<AuditEntry>(&line)
            && entry.portal == portal
        {
            entries.push(entry);
        }
    }
    Ok(entries)
}
