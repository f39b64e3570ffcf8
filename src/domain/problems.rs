//! Problems found in a configuration, each naming its key, collected so that they are all
//! reported at once; and the checks every section shares.

/// Problems by key, in the order found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Problems(Vec<String>);

impl Problems {
    /// `key: why`.
    pub fn add(&mut self, key: &str, why: impl std::fmt::Display) {
        self.0.push(format!("{key}: {why}"));
    }

    /// A problem that names its keys itself (several keys at once).
    pub fn add_sentence(&mut self, sentence: impl Into<String>) {
        self.0.push(sentence.into());
    }

    /// `value` must be an http(s) URL with a host.
    pub fn http_url(&mut self, key: &str, value: &str) {
        match url::Url::parse(value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => self.add(key, format!("{value:?} is not an http(s) URL")),
        }
    }

    /// Each value must be greater than 0.
    pub fn positive(&mut self, values: &[(&str, u64)]) {
        for (key, value) in values {
            if *value == 0 {
                self.add(key, "must be greater than 0");
            }
        }
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = String>) {
        self.0.extend(other);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }

    /// `Ok(value)` when no problem was found.
    pub fn or<T>(self, value: T) -> Result<T, Problems> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for Problems {}

impl From<String> for Problems {
    fn from(problem: String) -> Problems {
        Problems(vec![problem])
    }
}
