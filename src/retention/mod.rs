//! The retention planner: which backups to keep, which to delete, and why.
//!
//! [`plan_retention`] is a pure function of the history, the policy, `now` and the
//! portal's time zone. It never reads the clock and does no I/O, so every decision can
//! be pinned by a table test and replayed with `plan --at`. The steps are visible and
//! in the order of docs/reference.md ("Retention"): scope and doubtful records,
//! restic's rules (`rules`, driven by the one rule table in `policy`), `protect`, then
//! the guards (`guards`). Turning the plan into HTTP calls is the executor's job.
//!
//! - `policy`: the policy and the rule table.
//! - `rules`: restic's rule state, fed one backup at a time.
//! - `decision`: what the planner decides about one record, and why.
//! - `plan`: the planner and its result.
//! - `guards`: the guards that turn deletions back into keeps.
//! - `conflict`: whether the server's own cleaner fights the policy.
//! - `forecast`: the planner replayed at each coming pass: when each backup goes.
//! - `explain`: the whole decision about one backup, step by step.
//! - `compare`: two plans of one history side by side (what a policy change would do).

mod compare;
mod conflict;
mod decision;
mod explain;
mod forecast;
mod guards;
mod plan;
mod policy;
mod rules;

pub use compare::{Change, Comparison, compare};
pub use conflict::schedule_conflict;
pub use decision::{
    Action, Doubt, Guard, GuardLimit, HealthInput, PlanContext, PlanEntry, Planned, Reason, Scope, ServerChange,
};
pub use explain::{Explanation, GuardStep, RuleStep, explain};
pub use forecast::{Cadence, Forecast, MIN_GAP, forecast};
pub use plan::{Plan, plan_retention};
pub use policy::{Bucket, Keep, RULES, RetentionPolicy, Rule, RuleDef, RuleKind, StaleAfter};
pub use rules::{RuleOutcome, RuleSetting};

#[cfg(test)]
mod tests;
