//! Credentials that cannot leak by accident.
//!
//! A [`Secret`] never shows its value through `Debug`, `Display` or `Serialize`: the
//! only way to read it is [`Secret::expose`], which is called in exactly one place per
//! kind of credential (building the `Authorization` header, the login body). Logs,
//! errors, `/status`, metrics and `check-config --print` therefore cannot print a key
//! even when a whole config or request struct is formatted.

use std::borrow::Cow;
use std::fmt;

/// What every redacted value is shown as.
pub const REDACTED: &str = "***";

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value. Call only where the value leaves the process towards the server.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

/// `text` with every API key in it (a word starting with `sk-`) cut to `sk-***`: for
/// messages that echo what a user wrote, where a key may have been pasted by mistake
/// (into a file name, a variable name, a URL, the wrong key).
pub fn mask_api_keys(text: &str) -> Cow<'_, str> {
    if !text.contains("sk-") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("sk-") {
        let starts_word = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        out.push_str(&rest[..at]);
        if starts_word {
            out.push_str("sk-");
            out.push_str(REDACTED);
            let after = &rest[at + 3..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=')))
                .unwrap_or(after.len());
            rest = &after[end..];
        } else {
            out.push_str("sk-");
            rest = &rest[at + 3..];
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Keeps the keys in this process's memory out of core dumps and away from other
/// processes of the same user: no core file (`RLIMIT_CORE` 0) and not dumpable (no
/// ptrace attach, no core on a crash even where a core pattern pipes it). Called
/// first thing by every command; a failure is reported and the command goes on (a
/// sandbox may forbid the calls; the unit sets `LimitCORE=0` as well).
pub fn keep_out_of_core_dumps() {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    let none = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    if let Err(e) = setrlimit(Resource::Core, none) {
        eprintln!("warning: cannot disable core dumps (RLIMIT_CORE): {e}");
    }
    if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        eprintln!("warning: cannot mark the process not dumpable: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_masked_wherever_they_were_pasted() {
        assert_eq!(
            mask_api_keys("cannot read sk-abc123: not found"),
            "cannot read sk-***: not found"
        );
        assert_eq!(mask_api_keys("found string \"sk-a.b/c\""), "found string \"sk-***\"");
        assert_eq!(mask_api_keys("https://sk-abc@host"), "https://sk-***@host");
        assert_eq!(mask_api_keys("/etc/disk-keys/acme"), "/etc/disk-keys/acme");
        assert_eq!(mask_api_keys("a sk- b"), "a sk-*** b");
        assert_eq!(mask_api_keys("no key here"), "no key here");
    }

    #[test]
    fn never_formats_its_value() {
        let s = Secret::new("sk-very-secret");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.expose(), "sk-very-secret");
    }
}
