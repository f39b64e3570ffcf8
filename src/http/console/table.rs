//! Pieces every console table shares: the table with its header row and its empty state in a
//! box that scrolls on a phone, and
//! the badge that shows an enum's value as the API writes it.

use maud::{Markup, html};

/// A table named `label` of `rows` under `head`; with no rows, one row saying `empty` (when
/// given). It scrolls inside its own box when wider than the screen.
pub fn table(
    label: &str,
    head: &[&str],
    empty: Option<&str>,
    rows: impl IntoIterator<Item = Markup>,
) -> Markup {
    let rows: Vec<Markup> = rows.into_iter().collect();
    scroll(
        label,
        html! {
            table {
                thead { tr { @for h in head { th { (h) } } } }
                tbody {
                    @if rows.is_empty() && let Some(empty) = empty {
                        tr { td colspan=(head.len()) { (empty) } }
                    }
                    @for row in rows { (row) }
                }
            }
        },
    )
}

/// A box that scrolls sideways on a narrow screen, named and reachable by keyboard (so that
/// what is off to the side can be scrolled to without a mouse).
pub fn scroll(label: &str, content: Markup) -> Markup {
    html! { div.scroll role="region" aria-label=(label) tabindex="0" { (content) } }
}

/// A value's name as the API writes it (`pending_approval`): serde's.
pub fn slug<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// A badge styled by its value, in words.
pub fn badge(value: &str) -> Markup {
    html! { span class={ "badge " (value) } { (super::words::plain(value)) } }
}

/// A sortable column's heading: a link to the page sorted by it, the order shown by an arrow
/// and told by `aria-sort`; `sorted` is `Some(descending)` when the page is sorted by it.
pub fn sort_head(label: &str, href: &str, sorted: Option<bool>) -> Markup {
    let (sort, arrow) = match sorted {
        None => ("none", "↕"),
        Some(false) => ("ascending", "▲"),
        Some(true) => ("descending", "▼"),
    };
    html! { th aria-sort=(sort) { a href=(href) { (label) " " span.arrow aria-hidden="true" { (arrow) } } } }
}
