//! Reading request bodies: a size cap answered `413` before the body is read in full, JSON
//! parsed with the path of the failing field in the error, and `AdminBody` / `AdminJson`, the
//! extractors every admin handler reads its body with (one cap, one content-type check, one
//! error body).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};

use super::error::ApiError;
use super::server::BodyTimeout;

/// Largest admin body (a rule list of a few thousand rules).
pub const MAX_ADMIN_BODY: usize = 4 * 1024 * 1024;

/// Reads at most `limit` bytes, answering 413 past that (before reading it all).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if let Some(timeout) = c.downcast_ref::<BodyTimeout>() {
                return ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    timeout.to_string(),
                );
            }
            if c.downcast_ref::<hyper::Error>().is_some() {
                return ApiError::bad_request(
                    "body_incomplete",
                    format!("the body ended before it was complete: {c}"),
                );
            }
            cause = c.source();
        }
        too_large()
    })
}

/// Parses a JSON body with the field path in the error.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    code: &'static str,
) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path == "?" {
            "body".to_string()
        } else {
            path
        };
        ApiError::bad_request(code, format!("{field}: {}", e.inner()))
    })?;
    // Nothing but whitespace after the document.
    de.end()
        .map_err(|e| ApiError::bad_request(code, format!("body: {e}")))?;
    Ok(value)
}

/// An admin request's body, as every admin handler reads it: at most `MAX_ADMIN_BODY` bytes,
/// JSON (`application/json`, `application/*+json`, or no type) or, where a handler takes it,
/// CSV (`text/csv`); any other declared type is refused `415` before the body is read. Errors
/// are the one error body.
pub struct AdminBody {
    bytes: Bytes,
    csv: bool,
}

impl AdminBody {
    /// The body's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether the body was sent as `text/csv`.
    pub fn is_csv(&self) -> bool {
        self.csv
    }

    /// The body read as JSON, its failing field named (`400 invalid_request`); a CSV body is
    /// refused here, where only JSON is taken.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        self.json_only()?;
        parse_json(&self.bytes, "invalid_request")
    }

    /// As `json`, an empty body meaning the defaults.
    pub fn json_or_default<T: serde::de::DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        self.json()
    }

    /// Refuses a CSV body where only JSON is taken.
    pub fn json_only(&self) -> Result<&[u8], ApiError> {
        if self.csv {
            return Err(unsupported("text/csv"));
        }
        Ok(&self.bytes)
    }
}

fn unsupported(declared: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("the body is declared {declared:?}; send it as application/json"),
    )
}

impl<S: Send + Sync> FromRequest<S> for AdminBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<AdminBody, ApiError> {
        let (parts, body) = req.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("?").to_string());
        let essence = declared.as_deref().map(|d| {
            d.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        let csv = match essence.as_deref() {
            None => false,
            Some("application/json") => false,
            Some(t) if t.starts_with("application/") && t.ends_with("+json") => false,
            Some("text/csv") => true,
            Some(_) => return Err(unsupported(declared.as_deref().unwrap_or_default())),
        };
        let bytes = read_body(&parts.headers, body, MAX_ADMIN_BODY).await?;
        Ok(AdminBody { bytes, csv })
    }
}

/// An admin request's JSON body, parsed (`AdminBody::json`).
pub struct AdminJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for AdminJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<AdminJson<T>, ApiError> {
        let body = AdminBody::from_request(req, state).await?;
        Ok(AdminJson(body.json()?))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_json_body_followed_by_anything_is_refused() {
        let e = super::parse_json::<serde_json::Value>(b"{\"a\": 1} {}", "invalid_body")
            .expect_err("trailing bytes");
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(
            e.detail.starts_with("body: trailing characters"),
            "{}",
            e.detail
        );
        assert!(super::parse_json::<serde_json::Value>(b" {\"a\": 1}\r\n", "x").is_ok());
    }
}
