//! Files a command creates under `state_dir` belong to the owner of `state_dir`,
//! whoever runs it (docs/reference.md, "State"). An operator's `once --dry-run` as
//! root must not leave `locks/beta.lock` or `state.db-wal` owned by root: the service
//! (a dynamic user) would then fail every pass of that portal with "Permission denied",
//! and a restart would not help.
//!
//! Root gives each file it creates to the directory's owner; another user who is not
//! the owner is refused, with the user to run as.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::process::{Gid, Uid};

#[derive(Clone, Copy, Debug)]
pub struct Owner {
    uid: u32,
    gid: u32,
    /// This process runs as root and the directory belongs to someone else.
    give: bool,
}

impl Owner {
    /// The owner of `dir`, and whether this process may write there for them.
    pub fn of(dir: &Path) -> Result<Owner, String> {
        let meta = std::fs::metadata(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let me = rustix::process::geteuid().as_raw();
        let (uid, gid) = (meta.uid(), meta.gid());
        if me != uid && me != 0 {
            return Err(format!(
                "the state directory {} belongs to uid {uid}, and this command runs as uid {me}: run it as that \
                 user (sudo -u '#{uid}' …) or as root, so that the service can still use what it creates",
                dir.display()
            ));
        }
        Ok(Owner {
            uid,
            gid,
            give: me == 0 && uid != 0,
        })
    }

    /// Gives `path` (if it exists) to the directory's owner when this process is root.
    pub fn adopt(&self, path: &Path) -> Result<(), String> {
        if !self.give {
            return Ok(());
        }
        match rustix::fs::chown(path, Some(Uid::from_raw(self.uid)), Some(Gid::from_raw(self.gid))) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(format!(
                "cannot give {} to uid {} (the state directory's owner): {e}",
                path.display(),
                self.uid
            )),
        }
    }
}
