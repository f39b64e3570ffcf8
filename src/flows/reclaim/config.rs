//! `[reclaim]`: when runs happen, who is always protected, what a seat costs.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::Deserialize;
use time::OffsetDateTime;

use crate::domain::{Email, Problems};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReclaimConfig {
    /// When runs start: a cron expression (`minute hour day month weekday`, as crontab; or
    /// with seconds first). Absent: runs only when asked.
    pub schedule: Option<String>,
    /// The time zone the schedule is read in (an IANA name).
    pub timezone: String,
    /// A user given a licence back within this many days is left alone.
    pub min_days_since_restore: u32,
    /// Groups whose members administer the site or the organisation: never reclaimed.
    pub admin_groups: Vec<String>,
    /// Accounts never reclaimed (emails or account ids), besides the service account.
    pub protect_accounts: Vec<String>,
    /// Monthly price of one seat per product key, for the run summary's saving.
    pub price_per_seat: BTreeMap<String, f64>,
    /// The currency of those prices, as shown.
    pub currency: String,
    /// Data Center: a leaver's account is also renamed `<username>_inactive_<yyyyMMdd>`.
    pub rename_leavers: bool,
    /// How a warning reaches the user: `email`, `slack` (a direct message from the Slack app,
    /// to the member with the user's email), or both. Each carries the same keep link.
    pub notify: Vec<String>,
}

impl Default for ReclaimConfig {
    fn default() -> Self {
        Self {
            schedule: None,
            timezone: "UTC".into(),
            min_days_since_restore: 14,
            admin_groups: [
                "site-admins",
                "org-admins",
                "administrators",
                "jira-administrators",
                "jira-admins",
                "confluence-administrators",
            ]
            .map(String::from)
            .to_vec(),
            protect_accounts: Vec::new(),
            price_per_seat: BTreeMap::new(),
            currency: "USD".into(),
            rename_leavers: false,
            notify: vec!["email".into()],
        }
    }
}

impl ReclaimConfig {
    /// Whether warnings go out by `channel` (`email`, `slack`).
    pub fn notifies(&self, channel: &str) -> bool {
        self.notify.iter().any(|n| n == channel)
    }

    pub fn check(&self, problems: &mut Problems) {
        if self.notify.is_empty() {
            problems.add("reclaim.notify", "at least one of \"email\", \"slack\"");
        }
        for n in &self.notify {
            if n != "email" && n != "slack" {
                problems.add(
                    "reclaim.notify",
                    format!("{n:?} is not one of \"email\", \"slack\""),
                );
            }
        }
        if let Some(expr) = &self.schedule
            && let Err(e) = Schedule::parse(expr, &self.timezone)
        {
            problems.add("reclaim.schedule", e);
        }
        if jiff::tz::TimeZone::get(&self.timezone).is_err() {
            problems.add(
                "reclaim.timezone",
                format!(
                    "{:?} is not a time zone name like Europe/Paris",
                    self.timezone
                ),
            );
        }
        for (key, price) in &self.price_per_seat {
            if !price.is_finite() || *price < 0.0 {
                problems.add(
                    &format!("reclaim.price_per_seat.{key}"),
                    "a price of 0 or more",
                );
            }
        }
        for (i, account) in self.protect_accounts.iter().enumerate() {
            if account.trim().is_empty() {
                problems.add(
                    &format!("reclaim.protect_accounts[{i}]"),
                    "an email or account id",
                );
            }
        }
    }

    /// The schedule, when one is set and valid.
    pub fn schedule(&self) -> Option<Schedule> {
        let expr = self.schedule.as_deref()?;
        Schedule::parse(expr, &self.timezone).ok()
    }

    /// The groups whose members are never reclaimed: the site's and products' administrators
    /// always, and `admin_groups`.
    pub fn admin_group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = [
            "site-admins",
            "jira-administrators",
            "confluence-administrators",
        ]
        .map(String::from)
        .to_vec();
        for g in &self.admin_groups {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(g)) {
                names.push(g.clone());
            }
        }
        names
    }

    /// Whether an account is in `protect_accounts`.
    pub fn protects(&self, account_id: &str, email: Option<&Email>) -> bool {
        self.protect_accounts
            .iter()
            .any(|p| p == account_id || email.is_some_and(|e| p.eq_ignore_ascii_case(e.as_str())))
    }
}

/// A cron schedule in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: jiff_cron::Schedule,
    zone: jiff::tz::TimeZone,
}

impl Schedule {
    /// Five fields as in crontab (weekday 0–7, Sunday 0 or 7), or six or seven with seconds
    /// first (weekday 1–7, Sunday 1).
    pub fn parse(expr: &str, zone: &str) -> Result<Schedule, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let full = match fields.len() {
            5 => {
                let weekday = crontab_weekday(fields[4])?;
                format!(
                    "0 {} {} {} {} {weekday}",
                    fields[0], fields[1], fields[2], fields[3]
                )
            }
            6 | 7 => fields.join(" "),
            n => return Err(format!("{expr:?} has {n} fields; a crontab line has 5")),
        };
        let cron = jiff_cron::Schedule::from_str(&full)
            .map_err(|e| format!("{expr:?} is not a cron expression: {e}"))?;
        let zone = jiff::tz::TimeZone::get(zone).map_err(|e| format!("{zone:?}: {e}"))?;
        Ok(Schedule { cron, zone })
    }

    /// The first time after `after` the schedule fires.
    pub fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let ts = jiff::Timestamp::from_second(after.unix_timestamp()).ok()?;
        let next = self.cron.after(ts.to_zoned(self.zone.clone())).next()?;
        OffsetDateTime::from_unix_timestamp(next.timestamp().as_second()).ok()
    }
}

/// A crontab weekday field (Sunday 0 or 7) in the library's numbering (Sunday 1): numbers
/// move up by one, names stay.
fn crontab_weekday(field: &str) -> Result<String, String> {
    let one = |n: &str| -> Result<u32, String> {
        let n: u32 = n.parse().map_err(|_| format!("weekday {n:?}"))?;
        if n > 7 {
            return Err(format!("weekday {n} is not 0 to 7"));
        }
        Ok(n % 7 + 1)
    };
    let mut out = Vec::new();
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        let numeric = range.chars().all(|c| c.is_ascii_digit() || c == '-') && !range.is_empty();
        let mapped = if !numeric {
            range.to_string()
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (one(a)?, one(b)?);
            if a <= b {
                format!("{a}-{b}")
            } else {
                // Wrapped past Saturday (e.g. 5-7, Friday to Sunday).
                format!("{a}-7,1-{b}")
            }
        } else {
            one(range)?.to_string()
        };
        out.push(match step {
            Some(s) => format!("{mapped}/{s}"),
            None => mapped,
        });
    }
    Ok(out.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn crontab_lines_fire_in_their_time_zone() {
        let nightly = Schedule::parse("0 2 * * *", "Europe/Paris").expect("schedule");
        // 2026-11-30 12:00 UTC: the next 02:00 in Paris (UTC+1) is 01:00 UTC on Dec 1.
        let next = nightly.next_after(datetime!(2026-11-30 12:00 UTC));
        assert_eq!(next, Some(datetime!(2026-12-01 01:00 UTC)));
        // Weekdays as crontab numbers them: 1-5 is Monday to Friday. 2026-12-05 is a Saturday.
        let weekdays = Schedule::parse("30 6 * * 1-5", "UTC").expect("schedule");
        let next = weekdays.next_after(datetime!(2026-12-04 07:00 UTC));
        assert_eq!(next, Some(datetime!(2026-12-07 06:30 UTC)));
        let sunday = Schedule::parse("0 0 * * 0", "UTC").expect("schedule");
        assert_eq!(
            sunday.next_after(datetime!(2026-12-01 00:00 UTC)),
            Some(datetime!(2026-12-06 00:00 UTC))
        );
        assert!(Schedule::parse("0 2 * *", "UTC").is_err());
        assert!(Schedule::parse("0 2 * * 9", "UTC").is_err());
        assert!(Schedule::parse("0 2 * * *", "Mars/Olympus").is_err());
    }
}
