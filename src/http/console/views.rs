//! Saved views of Inactive Users: an admin names the page's filters, sort, page size and
//! columns, and every admin finds them above the filters; a view that no longer reads as a
//! page (a filter value the page refuses) is refused when saved.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::filter::UsersQuery;
use super::layout::page as frame;
use super::users::enc;
use super::{AdminForm, Console, failed};
use crate::store::views::NAME_MAX;

/// `POST /console/users/views`: saves the page's query under a name (replacing the view of
/// that name), then opens it.
pub async fn save(State(console): State<Console>, form: AdminForm) -> Response {
    let name = form.get("name").to_string();
    let query = form.get("query").to_string();
    let problem = if name.is_empty() || name.chars().count() > NAME_MAX {
        Some(format!("Name: a view's name is 1 to {NAME_MAX} characters"))
    } else {
        match UsersQuery::parse(Some(&query)) {
            Err(why) => Some(format!("The view's filters cannot be read: {why}")),
            Ok(q) if !q.check().is_empty() => Some(
                "The view's filters are not ones the page takes: fix them on the page first"
                    .to_string(),
            ),
            Ok(_) => None,
        }
    };
    if let Some(why) = problem {
        let back = format!("/console/users?{query}");
        let body = html! {
            div.message.error role="alert" { "Nothing was saved. " (why) "." }
            p { a href=(back) { "Back to Inactive Users" } }
        };
        return frame(
            &console,
            &form.session,
            "/console/users",
            StatusCode::BAD_REQUEST,
            "The view was not saved",
            body,
        );
    }
    if let Err(e) = console
        .flows
        .store
        .save_view(&name, &query, &form.session.actor)
        .await
    {
        return failed(&console, &form.session, &e.into());
    }
    let sep = if query.is_empty() { "" } else { "&" };
    Redirect::to(&format!("/console/users?{query}{sep}view={}", enc(&name))).into_response()
}

/// `POST /console/users/views/delete`: forgets a view.
pub async fn delete(State(console): State<Console>, form: AdminForm) -> Response {
    match console.flows.store.delete_view(form.get("name")).await {
        Ok(_) => Redirect::to("/console/users").into_response(),
        Err(e) => failed(&console, &form.session, &e.into()),
    }
}
