//! A form's bad input, named at its field: the message under the field, the field marked
//! invalid for assistive technology, a summary at the top; nothing replaced by a default.

use maud::{Markup, html};

/// What is wrong with a form, by field name (the `name` of its input).
#[derive(Debug, Default)]
pub struct Invalid(Vec<(&'static str, String)>);

impl Invalid {
    pub fn add(&mut self, field: &'static str, why: impl Into<String>) {
        self.0.push((field, why.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The message for `field`, if it is wrong.
    pub fn of(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, why)| why.as_str())
    }

    /// `aria-invalid` for the field's input.
    pub fn flag(&self, field: &str) -> Option<&'static str> {
        self.of(field).map(|_| "true")
    }

    /// `aria-describedby` for the field's input: its message's id.
    pub fn described(&self, field: &str) -> Option<String> {
        self.of(field).map(|_| format!("{field}-error"))
    }

    /// The message under the field (nothing when it is right).
    pub fn under(&self, field: &str) -> Markup {
        html! {
            @if let Some(why) = self.of(field) { span.field-error id={ (field) "-error" } { (why) } }
        }
    }

    /// The summary above the form: what to fix.
    pub fn summary(&self) -> Markup {
        html! {
            @if !self.is_empty() {
                div.message.error role="alert" {
                    "Nothing is shown until the filter is fixed: "
                    @for (i, (_, why)) in self.0.iter().enumerate() {
                        @if i > 0 { "; " }
                        (why)
                    }
                    "."
                }
            }
        }
    }
}

impl Invalid {
    /// A labelled input named `name` (its id too) of `kind` (`text`, `date`, `search`), marked
    /// and described by its error when it has one.
    pub fn input(&self, name: &'static str, label: &str, kind: &str, value: &str) -> Markup {
        html! {
            div.field {
                label for=(name) { (label) }
                input id=(name) type=(kind) name=(name) value=(value)
                    aria-invalid=[self.flag(name)] aria-describedby=[self.described(name)];
                (self.under(name))
            }
        }
    }

    /// A labelled select named `name` of `(value, label)` options, `chosen` selected.
    pub fn select(
        &self,
        name: &'static str,
        label: &str,
        options: &[(String, String)],
        chosen: &str,
    ) -> Markup {
        html! {
            div.field {
                label for=(name) { (label) }
                select id=(name) name=(name)
                    aria-invalid=[self.flag(name)] aria-describedby=[self.described(name)] {
                    @for (value, shown) in options {
                        option value=(value) selected[value == chosen] { (shown) }
                    }
                }
                (self.under(name))
            }
        }
    }
}
