//! Reading request bodies: a size cap answered `413` before the body is read in full, and JSON
//! parsed with the path of the failing field in the error.

use axum::body::{Body, Bytes};
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
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path == "?" {
            "body".to_string()
        } else {
            path
        };
        ApiError::bad_request(code, format!("{field}: {}", e.inner()))
    })
}
