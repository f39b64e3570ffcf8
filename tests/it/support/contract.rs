//! The contract with Atlassian (`tests/contract/atlassian.toml`): every operation reinstate
//! calls, with where Atlassian documents it. The simulators check each request they receive
//! against it; `tests/it/contract.rs` checks the table against the simulators and the
//! generated clients.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
pub struct Contract {
    /// The generated clients the table is checked against, with their pinned versions.
    pub clients: BTreeMap<String, String>,
    #[serde(rename = "operation")]
    pub operations: Vec<Operation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    pub id: String,
    pub method: String,
    /// A path template: `{name}` stands for one segment.
    pub path: String,
    /// Query parameters reinstate may send.
    #[serde(default)]
    pub query: Vec<String>,
    /// Top-level body fields reinstate may send (absent: no body, or `{}`).
    #[serde(default)]
    pub body: Vec<String>,
    /// Headers every request must carry.
    #[serde(default)]
    pub headers: Vec<String>,
    /// The answer's fields reinstate reads.
    #[serde(default)]
    pub reads: Vec<String>,
    /// `<package> <file> <function>` of a generated client, when one has the operation.
    pub client: Option<String>,
    pub documented: String,
    #[serde(default)]
    pub notes: Option<String>,
    pub confirmed: bool,
    /// The first Data Center version with the operation.
    #[serde(default)]
    pub since: Option<String>,
    /// A request to check `reads` on.
    #[serde(default)]
    pub sample: Option<Sample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    pub path: String,
    pub query: Option<String>,
    /// A JSON body.
    pub body: Option<String>,
}

pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contract/atlassian.toml");
        let text = std::fs::read_to_string(&path).expect("tests/contract/atlassian.toml");
        toml::from_str(&text).unwrap_or_else(|e| panic!("the contract does not parse: {e}"))
    })
}

/// Whether `path` is an instance of `template` (`{x}` matches any one non-empty segment;
/// templates of the simulator's router match the same way).
pub fn path_matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

/// Whether two templates can name the same path (a placeholder in either matches any segment).
pub fn templates_overlap(a: &str, b: &str) -> bool {
    let placeholder = |s: &str| s.starts_with('{') && s.ends_with('}');
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| x == y || placeholder(x) || placeholder(y))
}

impl Contract {
    /// The entry of `method` `path` (a concrete path or a template), if any.
    pub fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|o| o.method.eq_ignore_ascii_case(method) && path_matches(&o.path, path))
    }

    /// The entry a request matches, or what about it the contract does not hold.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        query: &[String],
        body: &Value,
        headers: &axum::http::HeaderMap,
    ) -> Result<&Operation, String> {
        let Some(op) = self.find(method, path) else {
            return Err(format!("{method} {path} is not in the contract"));
        };
        let unknown: Vec<&String> = query.iter().filter(|k| !op.query.contains(k)).collect();
        if !unknown.is_empty() {
            return Err(format!(
                "{method} {path} ({}): query {unknown:?} is not in the contract",
                op.id
            ));
        }
        let fields: Vec<&String> = match body {
            Value::Null => Vec::new(),
            Value::Object(map) => map.keys().filter(|k| !op.body.contains(k)).collect(),
            other => {
                return Err(format!(
                    "{method} {path} ({}): the body is not an object: {other}",
                    op.id
                ));
            }
        };
        if !fields.is_empty() {
            return Err(format!(
                "{method} {path} ({}): body fields {fields:?} are not in the contract",
                op.id
            ));
        }
        if let Some(h) = op
            .headers
            .iter()
            .find(|h| !headers.contains_key(h.as_str()))
        {
            return Err(format!(
                "{method} {path} ({}): the header {h} is missing",
                op.id
            ));
        }
        Ok(op)
    }
}

/// Whether `answer` holds the field `read` names (`a.b`, `[]` for every element of an array;
/// an empty array says nothing either way, a null value counts as present).
pub fn reads(answer: &Value, read: &str) -> bool {
    fn walk(v: &Value, parts: &[&str]) -> bool {
        let Some((first, rest)) = parts.split_first() else {
            return true;
        };
        if let Some(name) = first.strip_suffix("[]") {
            let inner = if name.is_empty() {
                Some(v)
            } else {
                v.get(name)
            };
            return match inner.and_then(Value::as_array) {
                Some(items) => !items.is_empty() && items.iter().any(|i| walk(i, rest)),
                None => false,
            };
        }
        match v.get(first) {
            Some(next) => rest.is_empty() || next.is_null() || walk(next, rest),
            None => false,
        }
    }
    // `[].accountId` is `[]`, then `accountId`; `groups.items[].name` is `groups`, `items[]`, `name`.
    let parts: Vec<&str> = read.split('.').collect();
    walk(answer, &parts)
}
