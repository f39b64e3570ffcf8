//! Notifications: emails are written to the sled outbox in the same transaction as the
//! decision that caused them, and a background sender delivers them with retries, so neither a
//! crash nor an SMTP outage loses one.

use crate::domain::{Email, Product, Seats, Spelling};
use crate::store::{AlertState, OutboxEmail};

pub mod chat;
pub mod sender;

/// An email for the outbox: the text part as given, and an HTML part showing the same text,
/// escaped, in paragraphs, with its web addresses as links (no remote images or scripts). The
/// subject and the text are reinstate's phrases, spelt `sp`; what they embed that someone typed
/// (an admin's reason, a directory's answer) is in double quotes, which `sp` leaves alone.
pub fn email(
    sp: Spelling,
    kind: &str,
    to: &[String],
    subject: String,
    text: String,
) -> OutboxEmail {
    let (subject, text) = (spelt(sp, subject), spelt(sp, text));
    let html = html_of(&text, None);
    OutboxEmail::new(kind, to, subject, text, html)
}

fn spelt(sp: Spelling, text: String) -> String {
    match sp.say(&text) {
        std::borrow::Cow::Owned(respelled) => respelled,
        std::borrow::Cow::Borrowed(_) => text,
    }
}

/// The one thing an email asks its reader to do: in the HTML part, the line of the text that
/// is exactly `url` becomes a button saying `label`.
pub struct Button<'a> {
    pub label: &'a str,
    pub url: &'a str,
}

/// An email whose HTML part shows `button` in place of its link (the text part is unchanged).
pub fn email_with_button(
    sp: Spelling,
    kind: &str,
    to: &[String],
    subject: String,
    text: String,
    button: Button<'_>,
) -> OutboxEmail {
    let (subject, text) = (spelt(sp, subject), spelt(sp, text));
    let label = sp.say(button.label);
    let button = Button {
        label: &label,
        url: button.url,
    };
    let html = html_of(&text, Some(&button));
    OutboxEmail::new(kind, to, subject, text, html)
}

const BUTTON_STYLE: &str = "display:inline-block;padding:10px 20px;background:#0c66e4;\
     color:#ffffff;text-decoration:none;border-radius:4px;font-weight:600";

/// The HTML part of `text`: paragraphs, lines, links, and the button.
fn html_of(text: &str, button: Option<&Button<'_>>) -> String {
    let mut body = String::with_capacity(text.len() * 2);
    for paragraph in text.split("\n\n") {
        body.push_str("<p style=\"margin:0 0 16px\">");
        for (i, line) in paragraph.lines().enumerate() {
            if i > 0 {
                body.push_str("<br>");
            }
            match button {
                Some(b) if line.trim() == b.url => body.push_str(&format!(
                    "<a href=\"{}\" style=\"{BUTTON_STYLE}\">{}</a>",
                    escape_html(b.url),
                    escape_html(b.label)
                )),
                _ => linkify(line, &mut body),
            }
        }
        body.push_str("</p>");
    }
    format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">{body}</body></html>"
    )
}

/// Appends `line` escaped, its `http(s)://` words as links.
fn linkify(line: &str, out: &mut String) {
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let word = escape_html(word);
        if word.starts_with("https://") || word.starts_with("http://") {
            out.push_str(&format!("<a href=\"{word}\">{word}</a>"));
        } else {
            out.push_str(&word);
        }
    }
}

/// Escapes text for HTML bodies (every value shown comes from data, never markup).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A seat alert to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatAlert {
    Threshold { used: u64, total: u64, percent: u8 },
    Full { waiting: Email },
}

/// Decides which seat alerts a fresh seat reading calls for: each once per crossing. Pure.
/// `capped_user` is set when a restore for that user was held back for lack of seats.
pub fn seat_alerts(
    seats: Seats,
    capped_user: Option<&Email>,
    threshold_percent: u8,
    before: AlertState,
) -> (AlertState, Vec<SeatAlert>) {
    let mut after = before;
    let mut alerts = Vec::new();
    if let (Some(used), Some(total), false) = (seats.used, seats.total, seats.unlimited)
        && total > 0
        && threshold_percent > 0
    {
        let above = used.saturating_mul(100) >= total.saturating_mul(threshold_percent as u64);
        if above && !before.above_threshold {
            alerts.push(SeatAlert::Threshold {
                used,
                total,
                percent: threshold_percent,
            });
        }
        after.above_threshold = above;
    }
    match capped_user {
        Some(user) => {
            if !before.full {
                alerts.push(SeatAlert::Full {
                    waiting: user.clone(),
                });
            }
            after.full = true;
        }
        None if !seats.full() => after.full = false,
        None => {}
    }
    (after, alerts)
}

/// The email for a seat alert.
pub fn seat_alert_email(
    sp: Spelling,
    product: Product,
    alert: &SeatAlert,
    to: &[String],
    public_url: &str,
) -> OutboxEmail {
    let admin = format!("{}/api/v1/requests", public_url.trim_end_matches('/'));
    match alert {
        SeatAlert::Threshold {
            used,
            total,
            percent,
        } => email(
            sp,
            "seat_threshold",
            to,
            format!(
                "[reinstate] {} seats: {used} of {total} in use",
                product.key()
            ),
            format!(
                "{} has {used} of {total} seats in use, at or above the alert threshold of {percent}%.\n\n\
                 reinstate keeps restoring licences while seats remain; when none remain, restores wait \
                 for an admin's approval. You will be told again only after use drops below the threshold \
                 and crosses it again.",
                product.key()
            ),
        ),
        SeatAlert::Full { waiting } => email(
            sp,
            "seats_full",
            to,
            format!(
                "[reinstate] {} has no seats left: restores are waiting",
                product.key()
            ),
            format!(
                "A restore of {} for {waiting} was held back because no seat is left.\n\n\
                 It waits for approval, with any others that arrive while the product is full: {admin}\n\
                 Free or buy seats, then approve. You will be told again only after seats free up and run out again.",
                product.key()
            ),
        ),
    }
}

/// Tells admins that a restore failed in a way retrying will not fix (or ran out of
/// deliveries); sent at most once per hour, since one misconfiguration fails every event.
pub fn failure_alert_email(
    sp: Spelling,
    user: &str,
    product: Option<Product>,
    reason: &str,
    to: &[String],
    public_url: &str,
) -> OutboxEmail {
    let audit = format!(
        "{}/api/v1/audit?outcome=failed",
        public_url.trim_end_matches('/')
    );
    let what = product.map_or("a licence".to_string(), |p| {
        format!("the {} licence", p.key())
    });
    email(
        sp,
        "restore_failed",
        to,
        format!("[reinstate] a restore failed: {user}"),
        format!(
            "reinstate could not restore {what} of {user}:\n\n\"{reason}\"\n\n\
             Retrying will not fix this; the directory's answer above says what to change \
             (credentials, permissions, groups or the user's account). Every failure is in the \
             audit log: {audit}\nFurther failures within the hour are recorded there without \
             another email."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seats(used: u64, total: u64) -> Seats {
        Seats {
            total: Some(total),
            used: Some(used),
            remaining: Some(total.saturating_sub(used)),
            unlimited: false,
        }
    }

    #[test]
    fn threshold_alerts_once_per_crossing() {
        let s0 = AlertState::default();
        let (s1, a) = seat_alerts(seats(8, 10), None, 90, s0);
        assert!(a.is_empty());
        let (s2, a) = seat_alerts(seats(9, 10), None, 90, s1);
        assert_eq!(
            a,
            vec![SeatAlert::Threshold {
                used: 9,
                total: 10,
                percent: 90
            }]
        );
        let (s3, a) = seat_alerts(seats(10, 10), None, 90, s2);
        assert!(a.is_empty(), "still above: no second alert");
        let (s4, a) = seat_alerts(seats(5, 10), None, 90, s3);
        assert!(a.is_empty() && !s4.above_threshold);
        let (_, a) = seat_alerts(seats(9, 10), None, 90, s4);
        assert_eq!(a.len(), 1, "a new crossing alerts again");
        let (_, a) = seat_alerts(seats(10, 10), None, 0, AlertState::default());
        assert!(a.is_empty(), "0 disables the threshold alert");
    }

    #[test]
    fn a_full_product_alerts_once_until_seats_free_up() {
        let who = Email::parse("grace@example.com").expect("email");
        let (s1, a) = seat_alerts(seats(10, 10), Some(&who), 0, AlertState::default());
        assert_eq!(
            a,
            vec![SeatAlert::Full {
                waiting: who.clone()
            }]
        );
        let (s2, a) = seat_alerts(seats(10, 10), Some(&who), 0, s1);
        assert!(a.is_empty());
        let (s3, _) = seat_alerts(seats(9, 10), None, 0, s2);
        assert!(!s3.full);
        let (_, a) = seat_alerts(seats(10, 10), Some(&who), 0, s3);
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn the_button_replaces_its_link_in_html_only_and_other_addresses_are_links() {
        let url = "https://reinstate.example.com/v1/links/v1.k1.abc?x=1&y=2";
        let text = format!("Hello <you>,\n\nopen this:\n{url}\n\nor see https://example.com/help");
        let e = email_with_button(
            Spelling::British,
            "x",
            &[],
            "s".into(),
            text.clone(),
            Button {
                label: "Confirm & go",
                url,
            },
        );
        assert_eq!(e.text, text, "the text part is unchanged");
        assert!(e.html.contains(&format!(
            "<a href=\"{}\" style=\"{BUTTON_STYLE}\">Confirm &amp; go</a>",
            url.replace('&', "&amp;")
        )));
        assert!(
            e.html
                .contains("<a href=\"https://example.com/help\">https://example.com/help</a>")
        );
        assert!(e.html.contains("Hello &lt;you&gt;,"));
        assert!(!e.html.contains("<pre"));
    }

    #[test]
    fn html_bodies_escape_what_they_show() {
        let e = email(
            Spelling::British,
            "x",
            &[],
            "s".into(),
            "<script>alert('x')</script> & more".into(),
        );
        assert!(
            e.html
                .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more")
        );
        assert!(!e.html.contains("<img") && !e.html.contains("<script"));
    }
}
