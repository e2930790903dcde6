//! The calls of the backup API this product makes (docs/docspace-api.md): name,
//! method, path. The names are the `endpoint` label of the request metrics.

use reqwest::Method;

/// One API call; the names are the metric's `endpoint` label values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    GetSchedule,
    GetHistory,
    DeleteBackup,
    DeleteHistory,
    DeleteSchedule,
    Authenticate,
    GetVersion,
    GetSettings,
    /// A folder's files (`Documents` storage: the backups' sizes).
    GetFolder,
    /// The calling API key (its expiry).
    GetKey,
}

impl Endpoint {
    pub const ALL: [Endpoint; 10] = [
        Endpoint::GetSchedule,
        Endpoint::GetHistory,
        Endpoint::DeleteBackup,
        Endpoint::DeleteHistory,
        Endpoint::DeleteSchedule,
        Endpoint::Authenticate,
        Endpoint::GetVersion,
        Endpoint::GetSettings,
        Endpoint::GetFolder,
        Endpoint::GetKey,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Endpoint::GetSchedule => "get_schedule",
            Endpoint::GetHistory => "get_history",
            Endpoint::DeleteBackup => "delete_backup",
            Endpoint::DeleteHistory => "delete_history",
            Endpoint::DeleteSchedule => "delete_schedule",
            Endpoint::Authenticate => "authenticate",
            Endpoint::GetVersion => "get_version",
            Endpoint::GetSettings => "get_settings",
            Endpoint::GetFolder => "get_folder",
            Endpoint::GetKey => "get_key",
        }
    }

    pub(super) fn method(&self) -> Method {
        match self {
            Endpoint::GetSchedule
            | Endpoint::GetHistory
            | Endpoint::GetVersion
            | Endpoint::GetSettings
            | Endpoint::GetFolder
            | Endpoint::GetKey => Method::GET,
            Endpoint::Authenticate => Method::POST,
            Endpoint::DeleteBackup | Endpoint::DeleteHistory | Endpoint::DeleteSchedule => Method::DELETE,
        }
    }

    /// A change whose second sending could do more than the first: a clear sent again
    /// takes a backup made in between, a schedule deletion one the admin just made.
    /// Once it may have reached the server it is never sent again on its own; its
    /// outcome is settled by reading. (A backup's deletion names its id: sent again,
    /// it can only delete that backup.)
    pub(super) fn is_sent_once(&self) -> bool {
        matches!(self, Endpoint::DeleteHistory | Endpoint::DeleteSchedule)
    }

    pub(super) fn path(&self) -> &'static str {
        match self {
            Endpoint::GetSchedule => "/api/2.0/backup/getbackupschedule",
            Endpoint::GetHistory => "/api/2.0/backup/getbackuphistory",
            Endpoint::DeleteBackup => "/api/2.0/backup/deletebackup/",
            Endpoint::DeleteHistory => "/api/2.0/backup/deletebackuphistory",
            Endpoint::DeleteSchedule => "/api/2.0/backup/deletebackupschedule",
            Endpoint::Authenticate => "/api/2.0/authentication",
            Endpoint::GetVersion => "/api/2.0/settings/version/build",
            Endpoint::GetSettings => "/api/2.0/settings",
            Endpoint::GetFolder => "/api/2.0/files/",
            Endpoint::GetKey => "/api/2.0/keys/@self",
        }
    }

    pub(super) fn takes_dump(&self) -> bool {
        !matches!(
            self,
            Endpoint::DeleteBackup
                | Endpoint::Authenticate
                | Endpoint::GetVersion
                | Endpoint::GetSettings
                | Endpoint::GetFolder
                | Endpoint::GetKey
        )
    }
}
