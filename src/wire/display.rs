//! Showing what came from a server: control characters escaped, portal names in
//! natural order.

use std::borrow::Cow;

/// Text from a server (file names, ids, messages) as it may be printed: control
/// characters escaped, so a hostile file name cannot move the cursor, clear a
/// terminal or forge a log line.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                c if c.is_control() => c.escape_default().to_string(),
                c => c.to_string(),
            })
            .collect(),
    )
}

/// Portal names in natural order: `client2` before `client10`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    // Runs of digits and of other characters, borrowed from the name (`GET /` sorts
    // a fleet's names on every request: no allocation per comparison).
    fn chunks(s: &str) -> impl Iterator<Item = (bool, &str)> {
        let mut rest = s;
        std::iter::from_fn(move || {
            let digit = rest.chars().next()?.is_ascii_digit();
            let end = rest.find(|c: char| c.is_ascii_digit() != digit).unwrap_or(rest.len());
            let (chunk, tail) = rest.split_at(end);
            rest = tail;
            Some((digit, chunk))
        })
    }
    let (mut ca, mut cb) = (chunks(a), chunks(b));
    loop {
        let order = match (ca.next(), cb.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some((true, xa)), Some((true, xb))) => {
                let (ta, tb) = (xa.trim_start_matches('0'), xb.trim_start_matches('0'));
                ta.len()
                    .cmp(&tb.len())
                    .then_with(|| ta.cmp(tb))
                    .then_with(|| xa.len().cmp(&xb.len()))
            }
            (Some((_, xa)), Some((_, xb))) => xa.cmp(xb),
        };
        if order.is_ne() {
            return order;
        }
    }
}

/// Failing portals first, then by name in natural order.
pub fn fleet_order(a: (bool, &str), b: (bool, &str)) -> std::cmp::Ordering {
    a.0.cmp(&b.0).then_with(|| natural_cmp(a.1, b.1))
}
