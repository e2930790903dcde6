use super::*;
use std::collections::BTreeSet;

#[test]
fn per_portal_shows_every_portal_the_failing_ones_or_none() {
    let m = Metrics::new();
    for (name, run, success) in [
        ("ok", Some(2.0), Some(2.0)),
        ("bad", Some(3.0), Some(1.0)),
        ("new", None, None),
    ] {
        m.portal(name).update(|v| {
            v.last_run = run;
            v.last_success = success;
        });
    }
    m.portal("never").update(|v| v.last_run = Some(5.0));
    let all = m.render();
    assert!(!all.contains("docspace_retention_portals"), "{all}");
    for name in ["ok", "bad", "new", "never"] {
        assert!(
            all.contains(&format!("runs_total{{outcome=\"success\",portal=\"{name}\"}} 0")),
            "{all}"
        );
    }
    m.set_per_portal(PerPortal::Failing);
    let failing = m.render();
    let portals: BTreeSet<&str> = failing
        .lines()
        .filter_map(|l| l.split("portal=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(portals, BTreeSet::from(["bad", "never"]), "{failing}");
    assert!(failing.contains(
        "# TYPE docspace_retention_portals gauge\n\
         docspace_retention_portals{state=\"configured\"} 4\n\
         docspace_retention_portals{state=\"failing\"} 2\n"
    ));
    // Families stay in name order: the fleet's sits between its neighbours.
    let at = |name: &str| failing.find(&format!("# HELP docspace_retention_{name} ")).unwrap();
    assert!(at("policy_conflict") < at("portals") && at("portals") < at("recovered_intents_total"));
    m.set_per_portal(PerPortal::None);
    let none = m.render();
    assert!(!none.contains("portal=\""), "{none}");
    assert!(none.contains("docspace_retention_build_info{version="), "{none}");
    assert!(
        none.contains("docspace_retention_portals{state=\"failing\"} 2"),
        "{none}"
    );
    m.set_per_portal(PerPortal::All);
    assert_eq!(m.render(), all);
}

#[test]
fn families_are_in_name_order_and_helps_need_no_escaping() {
    assert!(PORTAL_FAMILIES.windows(2).all(|w| w[0].name < w[1].name));
    for f in &PORTAL_FAMILIES {
        assert!(!f.help.contains(['\\', '\n']), "{}", f.name);
    }
}

#[test]
fn numbers_print_as_the_crate_printed_them() {
    let mut out = String::new();
    for v in [
        0.0,
        -0.0,
        1796268600.37,
        400.0,
        0.12,
        1e21,
        f64::NAN,
        f64::INFINITY,
        -3.5,
    ] {
        out.clear();
        number(&mut out, Number::Float(v));
        assert_eq!(out, format!("{v}"), "{v}");
    }
}

/// Cut anywhere, the exposition is the same text; the portals are those there
/// when it began.
#[test]
fn chunks_of_any_size_make_the_same_exposition() {
    let m = Metrics::new();
    for (i, p) in ["c", "a", "b-1", "d_2"].iter().enumerate() {
        m.portal(p).update(|v| {
            v.runs.add(&RUN_OUTCOMES, "success", i as u64);
            if i % 2 == 0 {
                v.run_duration
                    .get_or_insert_with(Default::default)
                    .observe(0.3 * i as f64);
                v.request("get_history", Some(200));
                v.server_version = Some(format!("3.{i}"));
            }
            v.request("delete_backup", if i == 1 { None } else { Some(500) });
        });
        if i % 2 == 0 {
            m.portal(p).set_next_run(Some(1.5 + i as f64));
        }
    }
    m.api_request_duration_seconds
        .with_label_values(&["get_history"])
        .observe(0.2);
    let whole: String = m.exposition_in(usize::MAX).collect();
    let mut pieces = m.exposition_in(1);
    let first = pieces.next().unwrap();
    m.portal("aa-joined-late");
    let cut: String = std::iter::once(first).chain(pieces).collect();
    assert_eq!(cut, whole);
    // Four of the crate, twelve per portal with a series (counters, next run, duration, version).
    assert_eq!(whole.matches("# TYPE").count(), 16);
    assert!(m.render().contains("portal=\"aa-joined-late\""));
    assert!(!whole.contains("aa-joined-late"));
    let lines: Vec<&str> = whole.lines().filter(|l| !l.starts_with('#')).collect();
    let distinct: std::collections::BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(distinct.len(), lines.len(), "no series twice");
}

/// A portal that left keeps no series, and the hook it left behind (a pass still
/// running when a reload removed it) counts into nothing, also when its slot
/// goes to another portal.
#[test]
fn a_removed_portal_leaves_nothing_behind() {
    let m = Metrics::new();
    let old = m.portal("gone");
    old.update(|v| v.runs.add(&RUN_OUTCOMES, "success", 5)).unwrap();
    m.remove_portal("gone");
    assert!(!m.render().contains("gone"));
    assert_eq!(old.update(|v| v.runs.add(&RUN_OUTCOMES, "success", 1)), None);
    let other = m.portal("other");
    assert_eq!(other.slot, old.slot, "the slot is reused");
    assert_eq!(old.update(|v| v.runs.add(&RUN_OUTCOMES, "failure", 1)), None);
    m.portal("gone");
    let text = m.render();
    for p in ["gone", "other"] {
        for o in RUN_OUTCOMES {
            assert!(
                text.contains(&format!("runs_total{{outcome=\"{o}\",portal=\"{p}\"}} 0\n")),
                "{text}"
            );
        }
    }
    // Removed during a scrape: its series stop where it left.
    let mut scrape = m.exposition_in(1);
    let mut text = scrape.next().unwrap();
    m.remove_portal("other");
    text.extend(scrape);
    assert!(text.contains("portal=\"gone\""));
    assert!(!text.contains("portal=\"other\""));
}

#[test]
fn request_series_sort_as_their_labels_read() {
    let mut v = PortalValues::default();
    for (e, s) in [
        ("get_schedule", None),
        ("get_schedule", Some(503)),
        ("delete_backup", Some(200)),
        ("get_schedule", Some(404)),
        ("get_schedule", Some(503)),
    ] {
        v.request(e, s);
    }
    let got: Vec<_> = v.requests.iter().map(|r| (r.endpoint, r.status, r.count)).collect();
    assert_eq!(
        got,
        [
            ("delete_backup", Some(200), 1),
            ("get_schedule", Some(404), 1),
            ("get_schedule", Some(503), 2),
            ("get_schedule", None, 1)
        ]
    );
}

/// A portal nothing has updated shows exactly what one updated with nothing shows (its
/// values are made lazily); a freed slot's next run does not reach the next portal.
#[test]
fn lazy_values_render_as_made_ones_and_freed_slots_forget() {
    let (idle, touched) = (Metrics::new(), Metrics::new());
    idle.portal("x");
    touched.portal("x").update(|_| {});
    assert_eq!(idle.render(), touched.render());

    let m = Metrics::new();
    m.portal("a").set_next_run(Some(5.0));
    m.portal("a").update(|v| v.runs.add(&RUN_OUTCOMES, "failure", 1));
    m.remove_portal("a");
    m.portal("b");
    let text = m.render();
    assert!(!text.contains("next_run_timestamp_seconds"), "{text}");
    assert!(
        text.contains("runs_total{outcome=\"failure\",portal=\"b\"} 0"),
        "{text}"
    );
}
