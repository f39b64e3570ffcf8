//! Pieces every console table shares: the table with its header row and its empty state, and
//! the badge that shows an enum's value as the API writes it.

use maud::{Markup, html};

/// A table of `rows` under `head`; with no rows, one row saying `empty` (when given).
pub fn table(head: &[&str], empty: Option<&str>, rows: impl IntoIterator<Item = Markup>) -> Markup {
    let rows: Vec<Markup> = rows.into_iter().collect();
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
    }
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
