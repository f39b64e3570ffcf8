//! Reclamation's schedules as a form: the configuration's (read only), each saved one (name,
//! cron, time zone, enabled, a tick to delete) with its next run, and a blank row to add one;
//! checked by the API's own validation, the problem named under its field.

use maud::{Markup, html};

use super::{AdminForm, when};
use crate::flows::FlowError;
use crate::flows::reclaim::schedules::{Due, ScheduleList};
use crate::store::NamedSchedule;

/// One row as typed.
#[derive(Debug, Clone, Default)]
pub struct Row {
    name: String,
    cron: String,
    timezone: String,
    enabled: bool,
    delete: bool,
}

impl Row {
    fn of(d: &Due) -> Row {
        Row {
            name: d.name.clone(),
            cron: d.cron.clone(),
            timezone: d.timezone.clone(),
            enabled: d.enabled,
            delete: false,
        }
    }

    fn blank() -> Row {
        Row {
            timezone: "UTC".into(),
            enabled: true,
            ..Row::default()
        }
    }

    fn read(form: &AdminForm, i: usize) -> Row {
        let f = |name: &str| form.get(&format!("s{i}.{name}")).to_string();
        Row {
            name: f("name"),
            cron: f("cron"),
            timezone: f("timezone"),
            enabled: f("enabled") == "yes",
            delete: f("delete") == "yes",
        }
    }
}

/// The form as typed, with the problem (its field's key, and why).
pub struct Typed {
    rows: Vec<Row>,
    problem: Option<(String, String)>,
}

impl Typed {
    /// The saved schedules, and a blank row to add one.
    pub fn saved(due: &[Due]) -> Typed {
        let mut rows: Vec<Row> = due
            .iter()
            .filter(|d| d.set_in == "console")
            .map(Row::of)
            .collect();
        rows.push(Row::blank());
        Typed {
            rows,
            problem: None,
        }
    }

    /// The rows the form sent.
    pub fn read(form: &AdminForm) -> Typed {
        let count: usize = form.get("schedules").parse().unwrap_or(0).min(100);
        Typed {
            rows: (0..count).map(|i| Row::read(form, i)).collect(),
            problem: None,
        }
    }

    /// The schedules the rows say (a row ticked to delete, or left blank, is none), with the
    /// form's row of each.
    pub fn list(&self) -> (ScheduleList, Vec<usize>) {
        let (mut schedules, mut places) = (Vec::new(), Vec::new());
        for (i, r) in self.rows.iter().enumerate() {
            if r.delete || (r.name.is_empty() && r.cron.is_empty()) {
                continue;
            }
            places.push(i);
            schedules.push(NamedSchedule {
                name: r.name.clone(),
                cron: r.cron.clone(),
                timezone: if r.timezone.is_empty() {
                    "UTC".into()
                } else {
                    r.timezone.clone()
                },
                enabled: r.enabled,
            });
        }
        (ScheduleList { schedules }, places)
    }

    /// The form again, the validation's problem under its field.
    pub fn refused(mut self, e: &FlowError, places: &[usize]) -> Typed {
        let detail = match e {
            FlowError::Invalid { detail, .. } => detail.clone(),
            other => other.to_string(),
        };
        // `schedules[1].cron: why` → the form's row of the second schedule kept.
        let key = detail
            .strip_prefix("schedules[")
            .and_then(|rest| rest.split_once("]."))
            .and_then(|(n, rest)| {
                let row = places.get(n.parse::<usize>().ok()?)?;
                let field = rest.split(':').next()?;
                Some(format!("s{row}.{field}"))
            })
            .unwrap_or_default();
        self.problem = Some((key, detail));
        self
    }

    pub fn is_refused(&self) -> bool {
        self.problem.is_some()
    }

    fn problem_of(&self, key: &str) -> Option<&str> {
        self.problem
            .as_ref()
            .filter(|(k, _)| k == key)
            .map(|(_, why)| why.as_str())
    }
}

/// The schedules: the configuration's row, then the form.
pub fn section(due: &[Due], typed: &Typed, csrf: &str, admin: bool) -> Markup {
    let next_of = |name: &str| {
        due.iter()
            .find(|d| d.name == name && d.set_in == "console")
            .and_then(|d| d.next_run)
    };
    let input = |key: String, label: String, value: &str, size: &str| {
        let bad = typed.problem_of(&key);
        let id = key.replace('.', "-");
        html! {
            input id=(id) type="text" name=(key) value=(value) size=(size) readonly[!admin] aria-label=(label)
                aria-invalid=[bad.map(|_| "true")] aria-describedby=[bad.map(|_| format!("{id}-error"))];
            @if let Some(why) = bad { span.field-error id={ (id) "-error" } { (why) } }
        }
    };
    html! {
        section aria-labelledby="schedules-title" {
            h2 #schedules-title { "Schedules" }
            p.muted { "A scheduled run runs the policies as they are at that time, with their warnings first; five crontab fields (minute hour day month weekday), read in the schedule's time zone. Saved schedules are versioned and audited." }
            @if let Some((_, why)) = &typed.problem { div.message.error role="alert" { "Nothing was saved: " (why) "." } }
            form method="post" action="/console/reclaim" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="schedules" value=(typed.rows.len());
                (super::table::scroll("Schedules", html! {
                    table {
                        thead { tr { th { "Name" } th { "Cron" } th { "Time zone" } th { "Enabled" } th { "Next run" } th { "Delete" } } }
                        tbody {
                            @for d in due.iter().filter(|d| d.set_in == "configuration") {
                                tr {
                                    td { (d.name) span.muted { " (reclaim.schedule)" } }
                                    td { code { (d.cron) } }
                                    td { (d.timezone) }
                                    td { "yes" }
                                    td { @if let Some(t) = d.next_run { (when(t)) } @else { "—" } }
                                    td.muted { "set in the configuration" }
                                }
                            }
                            @for (i, r) in typed.rows.iter().enumerate() {
                                tr {
                                    td { (input(format!("s{i}.name"), format!("Name of schedule {}", i + 1), &r.name, "16")) }
                                    td { (input(format!("s{i}.cron"), format!("Cron of schedule {}", i + 1), &r.cron, "14")) }
                                    td { (input(format!("s{i}.timezone"), format!("Time zone of schedule {}", i + 1), &r.timezone, "14")) }
                                    td { input type="checkbox" name={ "s" (i) ".enabled" } value="yes" checked[r.enabled] aria-label={ "Schedule " (i + 1) " enabled" }; }
                                    td {
                                        @if let Some(t) = next_of(&r.name) { (when(t)) }
                                        @else if r.name.is_empty() { span.muted { "add one here" } }
                                        @else if !r.enabled { "disabled" }
                                        @else { "—" }
                                    }
                                    td {
                                        @if !r.name.is_empty() {
                                            input type="checkbox" name={ "s" (i) ".delete" } value="yes" checked[r.delete] aria-label={ "Delete schedule " (i + 1) };
                                        }
                                    }
                                }
                            }
                        }
                    }
                }))
                @if admin { p { button.primary type="submit" name="op" value="save_schedules" { "Save schedules" } } }
            }
        }
    }
}
