//! `[picture]`: how far the page looks ahead (docs/reference.md, "Picture").

use super::check::Checker;
use crate::calendar::CalDuration;

/// The forecast the page draws when nothing says otherwise.
pub const DEFAULT_FORECAST: CalDuration = CalDuration::days(90);

/// The longest look ahead: each pass replays the planner at every coming run of the
/// portal's cron (at most one an hour) up to it.
const LONGEST: CalDuration = CalDuration::days(5 * 366);

/// `[picture] forecast`: `None` when set to `"0d"` (the page shows no future).
pub(super) fn forecast(c: &mut Checker<'_>, raw: &super::raw::RawConfig) -> Option<CalDuration> {
    let p = c.table("picture", &raw.picture);
    c.unknown("picture", &p.unknown, super::raw::PICTURE_KEYS);
    let path = "picture.forecast";
    let Some(text) = c.get(path, &p.forecast) else {
        return Some(DEFAULT_FORECAST);
    };
    match CalDuration::parse(text.trim()) {
        Ok(d) if d.is_zero() => None,
        Ok(d) if d.after(chrono::DateTime::UNIX_EPOCH) > LONGEST.after(chrono::DateTime::UNIX_EPOCH) => {
            c.err(path, format!("at most {LONGEST} ahead, found {d}"));
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            c.err(
                path,
                format!("expected a duration such as \"90d\" (\"0d\": no forecast): {e}"),
            );
            None
        }
    }
}
