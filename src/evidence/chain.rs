//! The hash chain of the audit log. A chained line is a JSON object with `seq` (from 1
//! for a chain), `prev` (the `hash` of the line before, `""` for a chain's first line)
//! and `hash`: SHA-256, lowercase hex, of the line's JSON without `hash`, with the keys
//! sorted and no spaces (the values this product writes are strings, integers,
//! booleans, `null` and lists of them, for which that is RFC 8785's form). Lines
//! written before the chain existed carry none of the three: a chain starts at the
//! first line that does, and says so (`prev` is `""`).

use std::io::{BufRead, Read, Seek, SeekFrom};

use sha2::Digest as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::Sha256;

/// The end of a chain: the last line's `seq` and `hash`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// The canonical bytes of a JSON value: keys sorted (`serde_json`'s maps are ordered),
/// no spaces.
pub fn canonical(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value serializes")
}

/// The `hash` of a line: SHA-256 of its canonical JSON without `hash`.
pub fn hash_of(line: &Value) -> String {
    let mut without = line.clone();
    if let Some(map) = without.as_object_mut() {
        map.remove("hash");
    }
    hex::encode(Sha256::digest(canonical(&without)))
}

/// Chains `line` after `head`: sets `seq`, `prev` and `hash`, and moves the head on.
/// Returns the line's text (without the newline).
pub fn link(mut line: Value, head: &mut Head) -> Vec<u8> {
    if let Some(map) = line.as_object_mut() {
        map.insert("seq".into(), Value::from(head.seq + 1));
        map.insert("prev".into(), Value::from(head.hash.clone()));
        map.remove("hash");
    }
    let hash = hex::encode(Sha256::digest(canonical(&line)));
    if let Some(map) = line.as_object_mut() {
        map.insert("hash".into(), Value::from(hash.clone()));
    }
    *head = Head {
        seq: head.seq + 1,
        hash,
    };
    canonical(&line)
}

/// The chain's head as the file at `path` ends: its last chained line's `seq` and
/// `hash` (a line cut short after it is passed over); `None` when the file is empty or
/// missing, or its last whole line is not chained.
pub fn head_of_file(path: &Path) -> std::io::Result<Option<Head>> {
    match std::fs::File::open(path) {
        Ok(f) => head_of(&f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`head_of_file`] of an open file.
pub fn head_of(file: &std::fs::File) -> std::io::Result<Option<Head>> {
    Ok(Tail::read(file)?.head())
}

/// The end of a log, read once: 16 KiB, growing to at most 1 MiB until it holds a
/// whole JSON line (lines are far shorter than a megabyte). The writer reads it before
/// every group of lines, for the chain's head and for a line cut short.
pub struct Tail {
    bytes: Vec<u8>,
    /// It starts mid-file, so its first line may be the end of a longer one.
    partial_first: bool,
    /// The file's length when it was read.
    pub len: u64,
}

impl Tail {
    pub fn read(mut file: &std::fs::File) -> std::io::Result<Tail> {
        let len = file.metadata()?.len();
        let mut window: u64 = 16 << 10;
        loop {
            let start = len.saturating_sub(window);
            file.seek(SeekFrom::Start(start))?;
            let mut bytes = Vec::with_capacity((len - start) as usize);
            // Never more than the file said it held (a device such as /dev/full never ends).
            file.take(len - start).read_to_end(&mut bytes)?;
            let tail = Tail {
                bytes,
                partial_first: start > 0,
                len,
            };
            if start == 0 || window >= 1 << 20 || tail.last_json().is_some() {
                return Ok(tail);
            }
            window *= 4;
        }
    }

    /// The whole lines in view (and a last one without its newline), last first.
    fn lines_backwards(&self) -> impl Iterator<Item = &[u8]> {
        let whole = match self.partial_first {
            true => match memchr::memchr(b'\n', &self.bytes) {
                Some(i) => &self.bytes[i + 1..],
                None => &[],
            },
            false => &self.bytes[..],
        };
        whole.rsplit(|b| *b == b'\n').filter(|l| !l.is_empty())
    }

    /// The last line that reads as JSON (one cut short by a crash is passed over: the
    /// chain goes on from before it).
    fn last_json(&self) -> Option<Value> {
        self.lines_backwards().find_map(|l| serde_json::from_slice(l).ok())
    }

    /// The chain's head: the last JSON line's `seq` and `hash`; `None` when there is no
    /// such line or it is not chained.
    pub fn head(&self) -> Option<Head> {
        let v = self.last_json()?;
        let seq = v.get("seq").and_then(Value::as_u64)?;
        let hash = v.get("hash").and_then(Value::as_str)?;
        Some(Head {
            seq,
            hash: hash.to_string(),
        })
    }

    /// The bytes after the last newline, when the file does not end with one: a line
    /// cut short, or a whole one that lost only its newline.
    pub fn unended(&self) -> Option<&[u8]> {
        if self.bytes.is_empty() || self.bytes.last() == Some(&b'\n') {
            return None;
        }
        Some(match memchr::memrchr(b'\n', &self.bytes) {
            Some(i) => &self.bytes[i + 1..],
            None => &self.bytes[..],
        })
    }
}

/// The uncompressed files beside the log whose names begin with its name (what a
/// rotation leaves: `audit.jsonl.1`, `audit.jsonl-20261204`), oldest first by their
/// modification time, each with it.
pub fn rotated_beside(log: &Path) -> Vec<(std::time::SystemTime, PathBuf)> {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    e.file_name().to_str().is_some_and(|other| {
                        other != name && other.starts_with(name) && !other.ends_with(".gz") && !other.ends_with(".zst")
                    })
                })
                .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The audit log's files in the order they were written: the rotated ones beside it
/// under logrotate's names (`audit.jsonl-20261101`, `audit.jsonl.1`…, not a copy such
/// as `audit.jsonl.bak`), then the log itself.
pub fn chain_files(log: &Path) -> Vec<PathBuf> {
    let name = log.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let logrotates = |path: &Path| {
        path.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(name))
            .is_some_and(|rest| {
                rest.len() > 1
                    && (rest.starts_with('.') || rest.starts_with('-'))
                    && rest[1..].bytes().all(|b| b.is_ascii_digit())
            })
    };
    let mut files: Vec<PathBuf> = rotated_beside(log)
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| logrotates(p))
        .collect();
    if log.exists() {
        files.push(log.to_path_buf());
    }
    files
}

/// The head of the chain of a log that is empty or missing: the last line of the
/// newest rotated file (a rotation carries the chain on).
pub fn head_before(log: &Path) -> Option<Head> {
    chain_files(log)
        .into_iter()
        .rev()
        .filter(|p| p != log)
        .find_map(|p| head_of_file(&p).ok().flatten())
}

/// The file's length, read while no writer holds its lock (waiting a moment at most).
fn shared_len(file: &std::fs::File) -> std::io::Result<u64> {
    use rustix::fs::{FlockOperation, flock};
    for _ in 0..200 {
        if flock(file, FlockOperation::NonBlockingLockShared).is_ok() {
            let len = file.metadata().map(|m| m.len());
            let _ = flock(file, FlockOperation::Unlock);
            return len;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    Ok(file.metadata()?.len())
}

/// What checking a set of audit files found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verified {
    /// Chained lines checked, and the chain's first and last hash.
    pub lines: u64,
    pub first: Option<Head>,
    pub last: Option<Head>,
    /// Lines before the chain began (written before this product chained its log).
    pub unchained: u64,
    /// The chain began before the files read: this many lines are in files not read
    /// (compressed or removed).
    pub earlier: Option<u64>,
    /// Lines cut short by a crash, each named by the chained line after it.
    pub torn: u64,
    /// Checkpoints whose signature holds, and the last one's `seq`.
    pub checkpoints: u64,
    pub signed_through: Option<u64>,
    /// Chained lines after the last checkpoint (or all of them, without one).
    pub unsigned_tail: u64,
    /// Whether signatures were checked (a public key was given).
    pub signatures_checked: bool,
}

/// Where a check failed: the file, the line (from 1) and what is wrong there.
#[derive(Clone, Debug, PartialEq)]
pub struct Broken {
    pub file: PathBuf,
    pub line: u64,
    pub what: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}: {}", self.file.display(), self.line, self.what)
    }
}

/// Checks the chain (and, with `keys`, every checkpoint's signature: one of them must
/// hold, so a log signed before and after a key change checks with both) over `files`
/// in order. The first line that was changed, removed, inserted or reordered breaks it.
pub fn verify(files: &[PathBuf], keys: &[ed25519_dalek::VerifyingKey]) -> Result<Verified, Broken> {
    let mut v = Verified {
        signatures_checked: !keys.is_empty(),
        ..Verified::default()
    };
    let mut head: Option<Head> = None;
    // A line that is not whole JSON, waiting for the next chained line to name it.
    let mut cut: Option<(PathBuf, u64, String)> = None;
    for file in files {
        let unreadable = |e: std::io::Error| Broken {
            file: file.clone(),
            line: 0,
            what: format!("cannot be read: {e}"),
        };
        let mut handle = std::fs::File::open(file).map_err(unreadable)?;
        // Every line the writer writes ends with a newline: a last one without is cut.
        // The length is taken under a short shared lock: a writer appends whole groups
        // under its exclusive one, so this length ends where a group ended.
        let len = shared_len(&handle).map_err(unreadable)?;
        if len > 0 {
            let mut last = [0u8];
            handle.seek(SeekFrom::Start(len - 1)).map_err(unreadable)?;
            handle.read_exact(&mut last).map_err(unreadable)?;
            if last[0] != b'\n' {
                return Err(Broken {
                    file: file.clone(),
                    line: 0,
                    what: "the last line has no end (cut)".into(),
                });
            }
            handle.seek(SeekFrom::Start(0)).map_err(unreadable)?;
        }
        let reader = std::io::BufReader::with_capacity(1 << 16, handle.take(len));
        let mut n = 0u64;
        for raw in reader.split(b'\n') {
            n += 1;
            let at = |what: String| Broken {
                file: file.clone(),
                line: n,
                what,
            };
            let raw = raw.map_err(|e| at(format!("cannot be read: {e}")))?;
            let Ok(line) = serde_json::from_slice::<Value>(&raw) else {
                if head.is_none() && cut.is_none() && v.first.is_none() {
                    v.unchained += 1; // before the chain: as it was written
                    continue;
                }
                if cut.is_some() {
                    return Err(at("is not a whole JSON line (cut or changed)".into()));
                }
                cut = Some((file.clone(), n, hex::encode(Sha256::digest(&raw))));
                continue;
            };
            let (seq, prev, hash) = (
                line.get("seq").and_then(Value::as_u64),
                line.get("prev").and_then(Value::as_str),
                line.get("hash").and_then(Value::as_str),
            );
            let (Some(seq), Some(prev), Some(hash)) = (seq, prev, hash) else {
                if head.is_some() {
                    return Err(at(
                        "has no seq, prev or hash inside the chain (inserted or changed)".into()
                    ));
                }
                v.unchained += 1;
                continue;
            };
            if hash_of(&line) != hash || raw != canonical(&line) {
                return Err(at(format!("seq {seq}: its hash does not match its content (changed)")));
            }
            let names = line.get("torn").and_then(Value::as_str);
            match (cut.take(), names) {
                (None, None) => {}
                (Some((f, l, h)), Some(named)) if h == named => {
                    let _ = (f, l);
                    v.torn += 1;
                }
                (Some((f, l, _)), _) => {
                    return Err(Broken {
                        file: f,
                        line: l,
                        what: "is not a whole JSON line, and the next line does not name it as one cut short \
                               (changed or inserted)"
                            .into(),
                    });
                }
                // The chain's first line may name a cut line of the log before the chain.
                (None, Some(_)) if head.is_none() && v.unchained > 0 => {}
                (None, Some(_)) => {
                    return Err(at(format!(
                        "seq {seq}: names a cut line that is not before it (a line was removed)"
                    )));
                }
            }
            match &head {
                None if prev.is_empty() => {}
                // The oldest files read may not be the chain's first: logrotate
                // compresses older ones, which are not read. Said in the summary (the
                // first seq checked), never taken for the chain's beginning.
                None if n == 1 && v.unchained == 0 => v.earlier = Some(seq - 1),
                None => {
                    return Err(at(format!(
                        "seq {seq}: the chain's first line names a line before it ({prev}) that is not here \
                         (lines removed or changed)"
                    )));
                }
                Some(h) if prev != h.hash => {
                    return Err(at(format!(
                        "seq {seq}: prev does not name the line before it (a line was removed, inserted or reordered)"
                    )));
                }
                Some(h) if seq != h.seq + 1 => {
                    return Err(at(format!(
                        "seq {seq} follows seq {} (lines removed, inserted or reordered)",
                        h.seq
                    )));
                }
                Some(_) => {}
            }
            if line.get("phase").and_then(Value::as_str) == Some("checkpoint") {
                if !keys.is_empty() {
                    // A chain read from its middle: the line before is the one `prev` names.
                    let before = head.clone().or_else(|| {
                        Some(Head {
                            seq: seq.checked_sub(1)?,
                            hash: prev.to_string(),
                        })
                        .filter(|_| !prev.is_empty())
                    });
                    super::sign::check_any(&line, before.as_ref(), keys).map_err(|e| at(format!("seq {seq}: {e}")))?;
                    v.checkpoints += 1;
                    v.signed_through = Some(seq);
                    v.unsigned_tail = 0;
                } else {
                    v.unsigned_tail += 1;
                }
            } else {
                v.unsigned_tail += 1;
            }
            let this = Head {
                seq,
                hash: hash.to_string(),
            };
            if v.first.is_none() {
                v.first = Some(this.clone());
            }
            v.lines += 1;
            head = Some(this);
        }
    }
    if let Some((file, line, _)) = cut {
        return Err(Broken {
            file,
            line,
            what: "is not a whole JSON line (cut)".into(),
        });
    }
    v.last = head;
    // With a key, a chain that no checkpoint signs is no evidence: checkpoints removed
    // and the hashes recomputed look exactly like that.
    if !keys.is_empty() && v.lines > 0 && v.checkpoints == 0 {
        return Err(Broken {
            file: files.last().cloned().unwrap_or_default(),
            line: 0,
            what: "no checkpoint signed by this key: nothing here is signed".into(),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests;
