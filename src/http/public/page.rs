//! The pages people who come back see (links, the portal): complete HTML, with headers that
//! keep them out of caches and referrers and load nothing from elsewhere.

use axum::http::StatusCode;
use axum::response::Response;
use maud::PreEscaped;

use crate::http::console::Look;

/// A complete page in the organisation's look (the console's), with the headers every link
/// and portal page carries. `body_html` is already escaped where it shows values.
pub fn page(look: &Look, status: StatusCode, title: &str, body_html: &str) -> Response {
    crate::http::console::public_page(look, status, title, PreEscaped(body_html.to_string()))
}
