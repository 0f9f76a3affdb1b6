//! Signing a browser in: the token typed once into a form sets a session cookie (a digest of the
//! token, `HttpOnly`, `SameSite=Strict`), since a person's browser cannot send a bearer header.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::layout::{Nav, page};
use crate::state::AppState;

pub async fn form(State(state): State<AppState>) -> Response {
    if !state.access.token_required() {
        return Redirect::to("/").into_response();
    }
    sign_in(None).into_response()
}

#[derive(Debug, Deserialize)]
pub struct Offered {
    token: String,
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(offered): Form<Offered>,
) -> Response {
    if !state.access.is_token(offered.token.trim()) {
        return (StatusCode::UNAUTHORIZED, sign_in(Some("That is not the token."))).into_response();
    }
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
    let mut response = Redirect::to("/").into_response();
    if let Some(cookie) = state.access.session_cookie(secure)
        && let Ok(value) = HeaderValue::from_str(&cookie)
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn sign_in(error: Option<&str>) -> Markup {
    page(
        "Sign in",
        Nav::None,
        None,
        html! {
            h1 { "Sign in" }
            p { "The lake browser needs its token (" code { "LAKE_BROWSER_TOKEN" } ")." }
            @if let Some(error) = error { p.error #error { (error) } }
            form.selection method="post" action="/login" {
                label { "Token " input type="password" name="token" required autocomplete="current-password"; }
                button type="submit" { "Sign in" }
            }
        },
    )
}
