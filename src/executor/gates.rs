//! The gates a portal's config sets for every change, and a clear they refuse.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::list;
use crate::config::PortalConfig;
use crate::wire::BackupId;

/// The gates a portal's config sets for every change to it.
#[derive(Clone, Debug, Default)]
pub struct Gates {
    pub dry_run: bool,
    pub protect: BTreeSet<BackupId>,
    /// The daemon's current gates of the portal, which a reload replaces: read again
    /// before every change, so a reload that sets `dry_run` or adds a `protect` id
    /// binds the next DELETE of a pass already running.
    pub live: Option<Arc<LiveGates>>,
}

impl Gates {
    /// A configured portal's gates (`--dry-run` is already folded into `dry_run`).
    pub fn of(portal: &PortalConfig) -> Self {
        Gates {
            dry_run: portal.dry_run,
            protect: portal.retention.protect.clone(),
            live: None,
        }
    }

    /// These gates, bound to what `live` says at each change too.
    pub fn following(mut self, live: Arc<LiveGates>) -> Self {
        self.live = Some(live);
        self
    }

    /// The gates at this moment: the pass's own, tightened by the live ones (a reload
    /// can add a hold during a pass, never lift one).
    pub fn now(&self) -> Gates {
        let mut now = Gates {
            dry_run: self.dry_run,
            protect: self.protect.clone(),
            live: None,
        };
        if let Some(live) = &self.live {
            let current = live.get();
            now.dry_run |= current.dry_run;
            now.protect.extend(current.protect);
        }
        now
    }

    /// The ids among `ids` that `protect` names.
    pub fn protected_among(&self, ids: impl IntoIterator<Item = BackupId>) -> Vec<BackupId> {
        ids.into_iter().filter(|id| self.protect.contains(id)).collect()
    }
}

/// A portal's gates as the daemon's current config says, replaced by each reload.
#[derive(Debug, Default)]
pub struct LiveGates(std::sync::RwLock<Gates>);

impl LiveGates {
    pub fn new(gates: Gates) -> Self {
        LiveGates(std::sync::RwLock::new(gates))
    }

    pub fn set(&self, gates: Gates) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = gates;
    }

    pub fn get(&self) -> Gates {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// Why a clear was not even tried.
#[derive(Debug, Clone, PartialEq)]
pub enum ClearRefused {
    /// The history holds protected backups.
    Protected(Vec<BackupId>),
    /// The portal protects backups the history does not list: a clear would remove
    /// them too if they are there unlisted (docs/docspace-api.md, "Clearing removes
    /// what the history does not show").
    ProtectsUnlisted(Vec<BackupId>),
    /// The history is not what the caller decided on any more.
    Changed,
    /// The history could not be read again.
    Unreadable(String),
    /// The dump of a server that may not know `Dump`.
    Dump(String),
    /// A reload set `dry_run` after the history was read.
    DryRunSinceRead,
}

impl ClearRefused {
    /// Why `gates` forbid clearing a history that lists `ids`: any `protect` id does,
    /// listed or not, unless `force_protected`.
    pub fn by_protect(
        gates: &Gates,
        ids: impl IntoIterator<Item = BackupId>,
        force_protected: bool,
    ) -> Option<ClearRefused> {
        if force_protected {
            return None;
        }
        let listed = gates.protected_among(ids);
        if !listed.is_empty() {
            Some(ClearRefused::Protected(listed))
        } else if !gates.protect.is_empty() {
            Some(ClearRefused::ProtectsUnlisted(gates.protect.iter().copied().collect()))
        } else {
            None
        }
    }

    /// [`ClearRefused::by_protect`] once the history was read again, when a `dry_run`
    /// a reload set forbids it too.
    pub fn since_read(
        gates: &Gates,
        ids: impl IntoIterator<Item = BackupId>,
        force_protected: bool,
    ) -> Option<ClearRefused> {
        ClearRefused::by_protect(gates, ids, force_protected)
            .or_else(|| gates.dry_run.then_some(ClearRefused::DryRunSinceRead))
    }
}

impl std::fmt::Display for ClearRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClearRefused::Protected(ids) => write!(
                f,
                "refusing to clear the history: it holds protected backup{} {}",
                if ids.len() == 1 { "" } else { "s" },
                list(ids)
            ),
            ClearRefused::ProtectsUnlisted(ids) => write!(
                f,
                "refusing to clear the history: the portal protects backup{} {}, and a clear also removes \
                 records the history does not list (give --force-protected to clear anyway)",
                if ids.len() == 1 { "" } else { "s" },
                list(ids)
            ),
            ClearRefused::Changed => f.write_str("the history changed since it was read: not clearing it"),
            ClearRefused::Unreadable(e) => write!(f, "cannot re-read the history before clearing it: {e}"),
            ClearRefused::Dump(e) => f.write_str(e),
            ClearRefused::DryRunSinceRead => f.write_str("dry_run was set by a reload: not clearing the history"),
        }
    }
}
