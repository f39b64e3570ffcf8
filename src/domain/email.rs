//! An email address, validated: the key reinstate knows people by.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An email address, trimmed and lower-cased, checked for the shape `local@domain.tld`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// A string that is not an email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an email address")]
pub struct InvalidEmail(pub String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, InvalidEmail> {
        let s = raw.trim().to_ascii_lowercase();
        let Some((local, domain)) = s.split_once('@') else {
            return Err(InvalidEmail(raw.to_string()));
        };
        let ok = !local.is_empty()
            && s.len() <= 254
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && dot_atom(local);
        if ok {
            Ok(Email(s))
        } else {
            Err(InvalidEmail(raw.to_string()))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }
    /// A short stable hash: used in subjects and logs instead of the address (personal data).
    pub fn user_key(&self) -> String {
        short_hash(&self.0)
    }
}

/// A local part as directories hold them: RFC 5322's dot-atom (letters, digits and
/// ``!#$%&'*+-/=?^_`{|}~``, dots between them), letters of other scripts too (RFC 6531). Quoted
/// local parts (`"a b"@…`), comments and the characters markup is made of are refused: no
/// directory holds them, and an identity made of them is an attack, not a person.
fn dot_atom(local: &str) -> bool {
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| c == '.' || atext(c))
}

/// 16 hex digits of the SHA-256 of `s`.
pub fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

impl std::str::FromStr for Email {
    type Err = InvalidEmail;
    fn from_str(s: &str) -> Result<Email, InvalidEmail> {
        Email::parse(s)
    }
}

impl JsonSchema for Email {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Email".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "email", "maxLength": 254})
    }
}

impl TryFrom<String> for Email {
    type Error = InvalidEmail;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}
impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}
impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_validated() {
        for good in [
            "a@b.co",
            "first.last+tag@sub.example.com",
            "o'brien@example.com",
            "jörg@example.com",
        ] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "@b.co",
            "a@",
            "a@b",
            "a@.b.co",
            "a b@c.co",
            "a@b..co",
            "a@b_c.co",
            "\"><svg/onload=alert(1)>@example.com",
            "\"a b\"@example.com",
            "<a>@example.com",
            "a(comment)@example.com",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a\\b@example.com",
            "a;b@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Email::parse("x@Sub.Example.COM").expect("ok").domain(),
            "sub.example.com"
        );
    }
}
