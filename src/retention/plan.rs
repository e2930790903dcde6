//! [`plan_retention`]: every record of one portal, keep or delete, and why.

use chrono::{DateTime, TimeDelta, Utc};
use smallvec::SmallVec;

use super::decision::{Action, Doubt, Guard, PlanContext, PlanEntry, Planned, Reason, Scope};
use super::guards::apply_guards;
use super::policy::RetentionPolicy;
use super::rules::RuleEngine;
use crate::calendar::CalDuration;
use fnv::{FnvHashMap, FnvHashSet};

use crate::wire::{BackupId, HistoryRecord, WireTime};

/// The outcome of planning one portal.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The history as the server sent it (the entries name their record by index).
    records: Vec<HistoryRecord>,
    /// A decision for every record, newest first (ties by ascending id); undatable
    /// records last.
    pub entries: Vec<PlanEntry>,
    /// How many deletions each guard blocked, in guard order, only guards that
    /// blocked something.
    pub guards: Vec<(Guard, usize)>,
    /// How many doubtful records of each kind were kept, only kinds that occurred.
    pub doubtful: Vec<(Doubt, usize)>,
    /// Distinct backups that took part in rules and guards.
    pub managed: usize,
    /// Temporary backups (kept, never deleted by us, counted by nothing else).
    pub temporary: usize,
    pub newest_managed: Option<DateTime<Utc>>,
    /// Delete the whole history with one call (docs/reference.md, "Clearing").
    pub clear_history: bool,
    /// The policy asks for a clear and every record is to go, but the portal protects
    /// ids: the records are deleted one by one instead.
    pub clear_withheld: bool,
    /// The backups planned for deletion when the grace guard looked, and since when:
    /// what the state store keeps for the next pass.
    pub planned_since: Vec<(BackupId, DateTime<Utc>)>,
}

/// Two plans are the same when they list the same records, newest first, with the
/// same decisions: the order the server sent the history in is not part of a plan.
impl PartialEq for Plan {
    fn eq(&self, other: &Plan) -> bool {
        let same = |a: Planned<'_>, b: Planned<'_>| {
            a.record == b.record
                && (a.created, a.id, a.scope, a.action, &a.reasons) == (b.created, b.id, b.scope, b.action, &b.reasons)
        };
        self.entries.len() == other.entries.len()
            && self.iter().zip(other.iter()).all(|(a, b)| same(a, b))
            && (
                &self.guards,
                &self.doubtful,
                self.managed,
                self.temporary,
                self.newest_managed,
                self.clear_history,
                self.clear_withheld,
                &self.planned_since,
            ) == (
                &other.guards,
                &other.doubtful,
                other.managed,
                other.temporary,
                other.newest_managed,
                other.clear_history,
                other.clear_withheld,
                &other.planned_since,
            )
    }
}

impl Plan {
    /// The record an entry decides about.
    pub fn record(&self, entry: &PlanEntry) -> &HistoryRecord {
        &self.records[entry.index as usize]
    }

    /// Every record with its decision, newest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Planned<'_>> + ExactSizeIterator {
        self.entries.iter().map(|entry| Planned {
            record: self.record(entry),
            entry,
        })
    }

    /// The `i`-th record (newest first) with its decision.
    pub fn get(&self, i: usize) -> Planned<'_> {
        let entry = &self.entries[i];
        Planned {
            record: self.record(entry),
            entry,
        }
    }

    /// The records as the server sent them (what a second plan of the same read starts from).
    pub fn records(&self) -> &[HistoryRecord] {
        &self.records
    }

    /// The records, newest first (what a forecast starts from).
    pub fn records_newest_first(&self) -> Vec<HistoryRecord> {
        self.iter().map(|p| p.record.clone()).collect()
    }

    /// The backups to delete, each once (a twin listing is not a second backup).
    pub fn deletions(&self) -> impl Iterator<Item = Planned<'_>> {
        self.iter()
            .filter(|e| e.action == Action::Delete && e.scope != Scope::Twin)
    }

    pub fn deletion_count(&self) -> usize {
        self.deletions().count()
    }

    /// Distinct backups kept.
    pub fn kept_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.action == Action::Keep && e.scope != Scope::Twin)
            .count()
    }

    /// Deletions one guard blocked.
    pub fn blocked(&self, guard: Guard) -> usize {
        self.guards.iter().find(|(g, _)| *g == guard).map_or(0, |(_, n)| *n)
    }

    /// Doubtful records of one kind.
    pub fn doubtful_count(&self, doubt: Doubt) -> usize {
        self.doubtful.iter().find(|(d, _)| *d == doubt).map_or(0, |(_, n)| *n)
    }

    /// Deletions blocked by all guards together.
    pub fn blocked_deletions(&self) -> usize {
        self.guards.iter().map(|(_, n)| n).sum()
    }
}

/// Decides for every record of one portal. The steps, in order: scope, temporary and
/// doubtful records, twins (one backup listed twice), restic's rules, `protect`, then
/// the guards; twins finally take their first listing's decision.
pub fn plan_retention(records: Vec<HistoryRecord>, policy: &RetentionPolicy, ctx: &PlanContext) -> Plan {
    let future_limit = i64::try_from(policy.future_tolerance_secs)
        .ok()
        .and_then(TimeDelta::try_seconds)
        .and_then(|d| ctx.now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    // Newest first, ties by ascending id; records without a date go last, in the
    // order the server sent them. The order is found on small keys, then each
    // record is classified in its place: no record is moved.
    let mut order: Vec<(Option<DateTime<Utc>>, u32)> = records
        .iter()
        .enumerate()
        .map(|(i, r)| (r.created_on.instant(), i as u32))
        .collect();
    order.sort_unstable_by(|(ta, ia), (tb, ib)| match (ta, tb) {
        (Some(x), Some(y)) => y
            .cmp(x)
            .then_with(|| records[*ia as usize].id.cmp(&records[*ib as usize].id))
            .then_with(|| ia.cmp(ib)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => ia.cmp(ib),
    });
    let mut entries: Vec<PlanEntry> = order
        .into_iter()
        .map(|(created, i)| classify(i, &records[i as usize], created, policy, future_limit))
        .collect();
    mark_twins(&mut entries);

    let managed: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].scope == Scope::Managed)
        .collect();
    let times: Vec<DateTime<Utc>> = managed
        .iter()
        .map(|&i| entries[i].created().expect("managed records have a date"))
        .collect();

    // Suspect backups (the health sentinel's): kept, but they fill no `keep_*` slot.
    let suspect = |e: &PlanEntry| ctx.health.as_ref().and_then(|h| h.suspect.get(&e.id?).cloned());
    let mut suspects: FnvHashSet<usize> = FnvHashSet::default();
    for &i in &managed {
        if let Some(why) = suspect(&entries[i]) {
            entries[i].action = Action::Keep;
            entries[i].reasons.push(Reason::Suspect(why));
            suspects.insert(i);
        }
    }
    if !policy.has_rules() && policy.max_age.is_none() {
        // A policy that would delete every backup is refused here too, not only by the
        // config's validation: whoever builds a policy, it deletes nothing.
        for &i in &managed {
            entries[i].action = Action::Keep;
            entries[i].reasons.push(Reason::NoPolicy);
        }
    } else if suspects.is_empty() {
        apply_rules(&mut entries, &managed, &times, policy, ctx);
    } else {
        let (ruled, ruled_times): (Vec<usize>, Vec<DateTime<Utc>>) = managed
            .iter()
            .zip(&times)
            .filter(|&(&i, _)| !suspects.contains(&i))
            .map(|(&i, &t)| (i, t))
            .unzip();
        apply_rules(&mut entries, &ruled, &ruled_times, policy, ctx);
    }
    if let Some(max_age) = policy.max_age {
        apply_max_age(&mut entries, &managed, &times, max_age, policy.has_rules(), ctx);
    }
    if let Some(health) = &ctx.health {
        pin_healthy(&mut entries, &managed, health);
    }
    if !policy.protect.is_empty() {
        for &i in &managed {
            if entries[i].id.is_some_and(|id| policy.protect.contains(&id)) {
                entries[i].action = Action::Keep;
                entries[i].reasons.push(Reason::Protected);
            }
        }
    }

    let mut doubtful: Vec<(Doubt, usize)> = Vec::new();
    for e in &entries {
        if let Scope::Doubtful(d) = e.scope {
            match doubtful.iter_mut().find(|(k, _)| *k == d) {
                Some((_, n)) => *n += 1,
                None => doubtful.push((d, 1)),
            }
        }
    }
    doubtful.sort();

    // Candidates oldest first: the limits delete the oldest and save the newest.
    let candidates: Vec<usize> = managed
        .iter()
        .rev()
        .copied()
        .filter(|&i| entries[i].action == Action::Delete)
        .collect();
    let newest_managed = times.first().copied();
    // A suspect backup does not count toward `min_keep`.
    let guarded = apply_guards(
        &mut entries,
        candidates,
        managed.len(),
        &suspects,
        newest_managed,
        policy,
        ctx,
    );
    // Every deletion says why: the rules it fell beyond (a guard's keep says its own).
    let mut beyond: Option<std::sync::Arc<str>> = None;
    for &i in &managed {
        if entries[i].action == Action::Delete && entries[i].reasons.is_empty() {
            let rules = beyond.get_or_insert_with(|| rules_in_words(policy).into()).clone();
            entries[i].reasons.push(Reason::NoRule(rules));
        }
    }
    follow_first_listing(&mut entries);
    let temporary = entries.iter().filter(|e| e.scope == Scope::Temporary).count();

    // A portal that protects any id is never cleared: the server's clear also removes
    // records the history does not list, protected ones among them. It is deleted per id.
    let all_go = policy.clear_history
        && policy.min_keep == 0
        && policy.storage_types.is_empty()
        && !entries.is_empty()
        && entries.iter().all(|e| e.action == Action::Delete);
    let clear_history = all_go && policy.protect.is_empty();

    Plan {
        records,
        entries,
        guards: guarded.blocked,
        planned_since: guarded.planned_since,
        doubtful,
        managed: managed.len(),
        temporary,
        newest_managed,
        clear_history,
        clear_withheld: all_go && !clear_history,
    }
}

fn classify(
    index: u32,
    record: &HistoryRecord,
    created: Option<DateTime<Utc>>,
    policy: &RetentionPolicy,
    future_limit: DateTime<Utc>,
) -> PlanEntry {
    let id = BackupId::parse(&record.id);
    let (scope, reason) = if let WireTime::At(expires) = record.expires_on {
        (Scope::Temporary, Reason::Temporary { expires })
    } else if let WireTime::Invalid(raw) = &record.expires_on {
        (
            Scope::Doubtful(Doubt::Unparseable),
            Reason::Unparseable(format!("expiresOn {raw:?}")),
        )
    } else if !policy.manages(&record.storage_type) {
        (Scope::NotManaged, Reason::NotManaged)
    } else if !record.storage_type.is_known() {
        (Scope::Doubtful(Doubt::Unparseable), Reason::UnknownStorageType)
    } else if !matches!(record.created_on, WireTime::At(_)) {
        let detail = match &record.created_on {
            WireTime::Missing => "no createdOn".to_string(),
            WireTime::Never => "createdOn is 0001-01-01".to_string(),
            other => format!("createdOn {other}"),
        };
        (Scope::Doubtful(Doubt::Unparseable), Reason::Unparseable(detail))
    } else if id.is_none() {
        let detail = if record.id.is_empty() {
            "no id".to_string()
        } else {
            "id is not a GUID".to_string()
        };
        (Scope::Doubtful(Doubt::Unparseable), Reason::Unparseable(detail))
    } else if created.is_some_and(|t| t > future_limit) {
        (
            Scope::Doubtful(Doubt::Future),
            Reason::Future {
                tolerance_secs: policy.future_tolerance_secs,
            },
        )
    } else if let Some(start) = starts_after_finish(record, created) {
        (Scope::Doubtful(Doubt::Future), Reason::StartsAfterFinish { start })
    } else {
        return PlanEntry {
            index,
            created,
            id,
            scope: Scope::Managed,
            action: Action::Delete,
            reasons: SmallVec::new(),
        };
    };
    PlanEntry {
        index,
        created,
        id,
        scope,
        action: Action::Keep,
        reasons: smallvec::smallvec![reason],
    }
}

/// The start time in the record's file name, when it lies more than a day after its
/// `createdOn`. The name's time is UTC on SaaS and the server's local time on a
/// standalone server: a day covers every UTC offset, so only a wrong clock gets here
/// (docs/docspace-api.md, "Time and names").
fn starts_after_finish(record: &HistoryRecord, created: Option<DateTime<Utc>>) -> Option<chrono::NaiveDateTime> {
    let start = crate::wire::file_name_start(record.file_name.as_deref()?)?;
    (start.and_utc() > created? + chrono::TimeDelta::days(1)).then_some(start)
}

/// The policy's rules that are on, as an operator wrote them: `keep_daily 7, keep_within 30d`.
fn rules_in_words(policy: &RetentionPolicy) -> String {
    use super::policy::{Keep, RULES};
    // Counts first, then windows, each in the table's order.
    let counts = RULES
        .iter()
        .filter(|def| !matches!(policy.rule(def.rule), Keep::Within(_)));
    let windows = RULES
        .iter()
        .filter(|def| matches!(policy.rule(def.rule), Keep::Within(_)));
    let words: Vec<String> = counts
        .chain(windows)
        .filter_map(|def| match policy.rule(def.rule) {
            Keep::Off => None,
            Keep::Count(-1) => Some(format!("{} unlimited", def.key)),
            Keep::Count(n) => Some(format!("{} {n}", def.key)),
            Keep::Within(d) => Some(format!("{} {d}", def.key)),
        })
        .collect();
    words.join(", ")
}

/// restic's `ApplyPolicy` over the managed records (`managed` indexes `entries`,
/// newest first, `times` their instants).
fn apply_rules(
    entries: &mut [PlanEntry],
    managed: &[usize],
    times: &[DateTime<Utc>],
    policy: &RetentionPolicy,
    ctx: &PlanContext,
) {
    let mut rules = RuleEngine::new(policy, super::rules::latest(times, ctx.now), ctx.tz);
    let n = managed.len();
    for (nr, (&i, &t)) in managed.iter().zip(times).enumerate() {
        let reasons = &mut entries[i].reasons;
        if rules.consider(t, nr, nr + 1 == n, reasons) {
            entries[i].action = Action::Keep;
        }
    }
}

/// `max_age`: every managed backup not strictly after `now - max_age` (calendar
/// arithmetic from now, as restic's windows) is deleted, whatever rule kept it; with no
/// `keep_*` rule, the younger ones are kept for being younger.
fn apply_max_age(
    entries: &mut [PlanEntry],
    managed: &[usize],
    times: &[DateTime<Utc>],
    max_age: CalDuration,
    has_rules: bool,
    ctx: &PlanContext,
) {
    let cutoff = max_age.before(ctx.now, ctx.tz);
    for (&i, &t) in managed.iter().zip(times) {
        let e = &mut entries[i];
        if t <= cutoff {
            e.action = Action::Delete;
            e.reasons.clear();
            e.reasons.push(Reason::OlderThanMaxAge(max_age));
        } else if !has_rules && e.action == Action::Delete {
            e.action = Action::Keep;
            e.reasons.push(Reason::YoungerThanMaxAge(max_age));
        }
    }
}

/// The newest `keep_healthy` backups that are not suspect are pinned while newer ones
/// are suspect or a newer slot of the schedule was missed: broken new backups never
/// rotate the last good ones out. `max_age` stays the hard ceiling it is (the stale
/// guard is what holds a portal whose backups stopped).
fn pin_healthy(entries: &mut [PlanEntry], managed: &[usize], health: &super::decision::HealthInput) {
    let is_suspect = |e: &PlanEntry| e.id.is_some_and(|id| health.suspect.contains_key(&id));
    let Some(&newest_good) = managed.iter().find(|&&i| !is_suspect(&entries[i])) else {
        return;
    };
    let newest_good_at = entries[newest_good].created;
    let newer_suspect = managed
        .iter()
        .take_while(|&&i| i != newest_good)
        .any(|&i| is_suspect(&entries[i]));
    let missed_after = health
        .missed_since
        .is_some_and(|m| newest_good_at.is_some_and(|t| m > t));
    if !(newer_suspect || missed_after) {
        return;
    }
    let pinned: Vec<usize> = managed
        .iter()
        .copied()
        .filter(|&i| !is_suspect(&entries[i]))
        .take(health.keep_healthy)
        .collect();
    for i in pinned {
        let e = &mut entries[i];
        if matches!(e.reasons.first(), Some(Reason::OlderThanMaxAge(_))) {
            continue;
        }
        e.action = Action::Keep;
        e.reasons.push(Reason::HealthyPin);
    }
}

/// One backup listed more than once (ids compare without case) is one backup: its
/// first listing (newest first) stands for it and the others become twins, which no
/// rule or guard counts. When any listing of the id is not an ordinary managed record
/// (doubtful, temporary, not managed), every managed listing becomes a twin kept
/// beside it: when in doubt, keep.
fn mark_twins(entries: &mut [PlanEntry]) {
    // For each id: are all its listings ordinary managed records?
    let mut seen: FnvHashMap<BackupId, bool> = FnvHashMap::with_capacity_and_hasher(entries.len(), Default::default());
    for e in entries.iter() {
        if let Some(id) = e.id {
            *seen.entry(id).or_insert(true) &= e.scope == Scope::Managed;
        }
    }
    if seen.len() == entries.iter().filter(|e| e.id.is_some()).count() {
        return; // every id listed once
    }
    let mut first: FnvHashSet<BackupId> = FnvHashSet::with_capacity_and_hasher(seen.len(), Default::default());
    for e in entries.iter_mut() {
        let Some(id) = e.id else { continue };
        let is_first = first.insert(id);
        if e.scope != Scope::Managed {
            continue;
        }
        if !is_first || !seen[&id] {
            e.scope = Scope::Twin;
            e.action = Action::Keep;
        }
    }
}

/// Twins take the decision of the id's first listing (after the guards).
fn follow_first_listing(entries: &mut [PlanEntry]) {
    if !entries.iter().any(|e| e.scope == Scope::Twin) {
        return;
    }
    let mut decided: FnvHashMap<BackupId, Action> = FnvHashMap::default();
    for e in entries.iter_mut() {
        let Some(id) = e.id else { continue };
        if e.scope != Scope::Twin {
            decided.entry(id).or_insert(e.action);
            continue;
        }
        let action = decided.get(&id).copied().unwrap_or(Action::Keep);
        e.action = action;
        e.reasons.push(match action {
            Action::Keep => Reason::DuplicateOfKept,
            Action::Delete => Reason::DuplicateOfDeleted,
        });
    }
}
