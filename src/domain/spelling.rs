//! The organisation's spelling of what reinstate itself writes to people (the console, the
//! pages people who come back see, emails): British by default ("licence", "organisation"),
//! American when `server.locale = "en-US"` ("license", "organization").
//!
//! reinstate's phrases are written British; [`Spelling::say`] respells a phrase, word by word,
//! from a closed list. It leaves alone what is not a word of prose: anything between double
//! quotes (where reinstate's phrases quote names such as groups), and words joined to a path,
//! an address or a key (`enable-licences`, `licence@…`, `/licence/`), so data is never changed.

use std::borrow::Cow;

/// How the organisation spells (`server.locale`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Spelling {
    /// `en-GB`: "licence", "organisation".
    #[default]
    British,
    /// `en-US`: "license", "organization".
    American,
}

/// The locales `server.locale` takes.
pub const LOCALES: [&str; 2] = ["en-GB", "en-US"];

/// British words reinstate's phrases use (or may), and their American spelling.
const AMERICAN: &[(&str, &str)] = &[
    ("licence", "license"),
    ("licences", "licenses"),
    ("organisation", "organization"),
    ("organisations", "organizations"),
    ("organise", "organize"),
    ("organised", "organized"),
    ("authorise", "authorize"),
    ("authorised", "authorized"),
    ("recognise", "recognize"),
    ("recognised", "recognized"),
    ("behaviour", "behavior"),
    ("colour", "color"),
    ("colours", "colors"),
    ("cancelled", "canceled"),
    ("cancelling", "canceling"),
    ("centre", "center"),
    ("catalogue", "catalog"),
    ("favour", "favor"),
    ("analyse", "analyze"),
    ("summarise", "summarize"),
    ("grey", "gray"),
];

impl Spelling {
    /// The spelling of a locale tag (`en-GB`, `en_US`, any case); `None` for another.
    pub fn from_locale(tag: &str) -> Option<Spelling> {
        match tag.trim().replace('_', "-").to_ascii_lowercase().as_str() {
            "en-gb" => Some(Spelling::British),
            "en-us" => Some(Spelling::American),
            _ => None,
        }
    }

    /// The locale tag, for `<html lang>`.
    pub fn locale(self) -> &'static str {
        match self {
            Spelling::British => "en-GB",
            Spelling::American => "en-US",
        }
    }

    /// `text`, one of reinstate's phrases, in this spelling.
    pub fn say(self, text: &str) -> Cow<'_, str> {
        match self {
            Spelling::British => Cow::Borrowed(text),
            Spelling::American => american(text),
        }
    }
}

/// Characters that join a word to a path, an address, a key or a query: such a word is data.
fn joins(c: char) -> bool {
    c.is_alphanumeric() || "-_/@=?&#%+~\\".contains(c)
}

fn american(text: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut quoted: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(close) = quoted {
            if c == close {
                quoted = None;
            }
            continue;
        }
        match c {
            '"' => {
                quoted = Some('"');
                continue;
            }
            '\u{201c}' => {
                quoted = Some('\u{201d}');
                continue;
            }
            _ if !c.is_ascii_alphabetic() => continue,
            _ => {}
        }
        let mut end = i + 1;
        while let Some(&(j, d)) = chars.peek() {
            if !d.is_ascii_alphabetic() {
                break;
            }
            end = j + 1;
            chars.next();
        }
        let before = text[..i].chars().next_back();
        if before.is_some_and(|b| joins(b) || b == '.' || b == ':') {
            continue;
        }
        let mut after = text[end..].chars();
        let joined = match after.next() {
            Some('.' | ':') => after.next().is_some_and(|n| !n.is_whitespace() && n != ')'),
            Some(a) => joins(a),
            None => false,
        };
        if joined {
            continue;
        }
        let word = &text[i..end];
        if let Some(respelled) = respell(word) {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len() + 8));
            o.push_str(&text[copied..i]);
            o.push_str(&respelled);
            copied = end;
        }
    }
    match out {
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(text),
    }
}

/// The American spelling of a British word from the list, in the word's case
/// (`licence`, `Licence`, `LICENCE`).
fn respell(word: &str) -> Option<String> {
    let lower = word.to_ascii_lowercase();
    let (_, american) = AMERICAN.iter().find(|(british, _)| *british == lower)?;
    if word.bytes().all(|b| b.is_ascii_uppercase()) && word.len() > 1 {
        return Some(american.to_ascii_uppercase());
    }
    if word.as_bytes()[0].is_ascii_uppercase() {
        let mut s = american.to_string();
        s[..1].make_ascii_uppercase();
        return Some(s);
    }
    Some(american.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(text: &str) -> String {
        Spelling::American.say(text).into_owned()
    }

    #[test]
    fn british_is_as_written() {
        let text = "Licences in use; your organisation's rules";
        assert!(matches!(Spelling::British.say(text), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn american_respells_prose_words_in_their_case() {
        assert_eq!(us("Licences in use"), "Licenses in use");
        assert_eq!(
            us("Your licence will be restored if your organisation's rules allow it."),
            "Your license will be restored if your organization's rules allow it."
        );
        assert_eq!(us("NO LICENCE"), "NO LICENSE");
        assert_eq!(us("licence. Then"), "license. Then");
        assert_eq!(us("(a licence)"), "(a license)");
        assert_eq!(us("licence: nothing"), "license: nothing");
        assert_eq!(us("Enable licences — 3 users"), "Enable licenses — 3 users");
        assert_eq!(us("licensed"), "licensed");
        assert!(matches!(
            Spelling::American.say("3 users"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn data_is_left_alone() {
        for data in [
            "enable-licences",
            "licence_group",
            "licence@example.com",
            "https://example.com/licence/page",
            "https://example.com/licence.html",
            "groups removed: [\"licence holders\"]",
            "no account is in \u{201c}Licence Admins\u{201d} yet",
            "?view=licence",
            "licence.holders",
            "a.licence",
        ] {
            assert_eq!(us(data), data, "{data}");
        }
        assert_eq!(
            us("a licence; groups removed: [\"licence holders\"], a licence"),
            "a license; groups removed: [\"licence holders\"], a license"
        );
    }

    #[test]
    fn locales_parse() {
        assert_eq!(Spelling::from_locale("en-GB"), Some(Spelling::British));
        assert_eq!(Spelling::from_locale("en_us"), Some(Spelling::American));
        assert_eq!(Spelling::from_locale("fr-FR"), None);
        for tag in LOCALES {
            assert_eq!(Spelling::from_locale(tag).expect(tag).locale(), tag);
        }
    }
}
