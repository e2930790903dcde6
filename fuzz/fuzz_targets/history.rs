//! Any body `getbackuphistory` may return: parsing never panics, and planning what
//! was parsed never deletes a record it could not fully read.
#![no_main]

use docspace_retention::retention::{PlanContext, RetentionPolicy, Rule, Scope, plan_retention};
use docspace_retention::wire::parse_history;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(records) = parse_history(data) else { return };
    let policy = RetentionPolicy { min_keep: 0, max_delete_fraction: 1.0, ..RetentionPolicy::default() }
        .keep(Rule::Last, 2)
        .keep(Rule::Daily, 3);
    let ctx = PlanContext::new(
        chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap(),
        chrono_tz::Tz::Europe__Berlin,
    );
    let plan = plan_retention(records, &policy, &ctx);
    for e in plan.deletions() {
        assert_eq!(e.scope, Scope::Managed);
        assert!(e.id.is_some() && docspace_retention::wire::is_guid(&e.record.id));
    }
});
