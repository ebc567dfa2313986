//! Personal access tokens on the account pages (create, shown once; list; revoke) and the API reference page.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Layout, format_date, format_datetime, render};
use crate::api::SCOPES;
use crate::app::AppState;
use crate::auth::{SignedIn, token};
use crate::db::tokens;
use crate::error::AppError;
use crate::routes::form::Form;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/tokens", get(tokens_page).post(create))
        .route("/account/tokens/{id}/revoke", post(revoke))
        .route("/docs/api", get(reference))
}

/// Expiry choices: (form value, label, days).
const EXPIRIES: [(&str, &str, Option<i64>); 5] = [
    ("7", "7 days", Some(7)),
    ("30", "30 days", Some(30)),
    ("90", "90 days", Some(90)),
    ("365", "1 year", Some(365)),
    ("none", "Never", None),
];

/// A token as the list shows it.
struct TokenView {
    id: i64,
    name: String,
    prefix: String,
    scopes: String,
    created: String,
    expires: String,
    last_used: String,
    /// "active", "expired" or "revoked".
    status: &'static str,
}

#[derive(Template)]
#[template(path = "account/tokens.html")]
struct TokensPage {
    layout: Layout,
    tokens: Vec<TokenView>,
    scopes: Vec<(&'static str, &'static str, bool)>,
    expiries: Vec<(&'static str, &'static str)>,
    expiry: String,
    name: String,
    error: Option<&'static str>,
    /// The token just made: shown this once.
    created: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
struct Done {
    #[serde(default)]
    done: String,
}

async fn page(
    state: &AppState,
    user: &crate::db::users::User,
    form: (&str, &[String], &str),
    error: Option<&'static str>,
    created: Option<String>,
    notice: Option<&'static str>,
) -> Result<TokensPage, AppError> {
    let now = time::OffsetDateTime::now_utc();
    let tokens = tokens::list(&state.db, user.id)
        .await?
        .into_iter()
        .map(|t| TokenView {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            scopes: t.scopes.join(", "),
            created: format_date(t.created_at),
            expires: t.expires_at.map_or_else(|| "Never".to_string(), format_date),
            last_used: t
                .last_used_at
                .map_or_else(|| "Never".to_string(), format_datetime),
            status: if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at.is_some_and(|at| at <= now) {
                "expired"
            } else {
                "active"
            },
        })
        .collect();
    let (name, chosen, expiry) = form;
    Ok(TokensPage {
        layout: Layout::new(state, Some(user), "Personal access tokens"),
        tokens,
        scopes: SCOPES
            .iter()
            .map(|(scope, label)| (*scope, *label, chosen.iter().any(|c| c == scope)))
            .collect(),
        expiries: EXPIRIES
            .iter()
            .map(|(value, label, _)| (*value, *label))
            .collect(),
        expiry: expiry.to_string(),
        name: name.to_string(),
        error,
        created,
        notice,
    })
}

async fn tokens_page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Query(done): Query<Done>,
) -> Result<Response, AppError> {
    let notice = (done.done == "revoked").then_some("The token was revoked: it no longer works.");
    let page = page(&state, &user, ("", &[], "90"), None, None, notice).await?;
    Ok(render(&page)?.into_response())
}

async fn create(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let name = field("name").trim().to_string();
    let expiry = field("expiry").to_string();
    let scopes: Vec<String> = SCOPES
        .iter()
        .filter(|(scope, _)| fields.iter().any(|(k, v)| k == "scope" && v == scope))
        .map(|(scope, _)| scope.to_string())
        .collect();
    let days = EXPIRIES
        .iter()
        .find(|(value, _, _)| *value == expiry)
        .map(|e| e.2);
    let now = time::OffsetDateTime::now_utc();
    let live = tokens::list(&state.db, user.id)
        .await?
        .iter()
        .filter(|t| t.revoked_at.is_none() && t.expires_at.is_none_or(|at| at > now))
        .count();
    let error = if live >= tokens::MAX_LIVE {
        Some("You have 50 working tokens, the most an account may have: revoke one first.")
    } else if name.is_empty() || name.chars().count() > 100 {
        Some("Give the token a name of up to 100 characters, to recognise it later.")
    } else if scopes.is_empty() {
        Some("Choose at least one scope.")
    } else if days.is_none() {
        Some("Choose when the token expires.")
    } else {
        None
    };
    if let Some(error) = error {
        let page = page(&state, &user, (&name, &scopes, &expiry), Some(error), None, None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let secret = crate::api::new_token();
    let prefix: String = secret.chars().take(11).collect();
    let expires_at = days
        .flatten()
        .map(|d| time::OffsetDateTime::now_utc() + time::Duration::days(d));
    tokens::create(
        &state.db,
        user.id,
        &name,
        &prefix,
        &token::hash(&secret),
        &scopes,
        expires_at,
    )
    .await?;
    // Rendered, not redirected: the token is never in a URL, a session or a log.
    let page = page(&state, &user, ("", &[], "90"), None, Some(secret), None).await?;
    Ok(render(&page)?.into_response())
}

async fn revoke(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Result<Redirect, AppError> {
    if !tokens::revoke(&state.db, user.id, id).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/account/tokens?done=revoked"))
}

// ---------- the API reference ----------

struct Operation {
    method: String,
    path: String,
    summary: String,
    description: String,
    tag: String,
    scopes: String,
    /// (name, where, required, description).
    params: Vec<(String, String, bool, String)>,
    body: Option<String>,
    /// (status, description, schema).
    responses: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "account/api_docs.html")]
struct ReferencePage {
    layout: Layout,
    title: String,
    description: String,
    operations: Vec<Operation>,
    /// (name, the schema as JSON).
    schemas: Vec<(String, String)>,
}

fn text(value: &serde_json::Value, key: &str) -> String {
    value
        .get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

/// `#/components/schemas/X` → `X`; an inline schema is named by its type.
fn schema_name(schema: Option<&serde_json::Value>) -> String {
    let Some(schema) = schema else {
        return String::new();
    };
    if let Some(reference) = schema.get("$ref").and_then(|r| r.as_str()) {
        return reference.rsplit('/').next().unwrap_or(reference).to_string();
    }
    text(schema, "type")
}

/// The generated OpenAPI document as a page: every operation, its parameters, body and
/// responses, then every schema. Rendered on the server; no script or CDN.
async fn reference(
    State(state): State<AppState>,
    crate::auth::MaybeUser(user): crate::auth::MaybeUser,
) -> Result<Response, AppError> {
    let doc = serde_json::to_value(crate::api::openapi()).map_err(anyhow::Error::from)?;
    let mut operations = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
        for (path, item) in paths {
            let Some(item) = item.as_object() else { continue };
            for (method, op) in item {
                let params = op
                    .get("parameters")
                    .and_then(|p| p.as_array())
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        (
                            text(p, "name"),
                            text(p, "in"),
                            p.get("required").and_then(|r| r.as_bool()).unwrap_or(false),
                            text(p, "description"),
                        )
                    })
                    .collect();
                let body = op
                    .pointer("/requestBody/content/application~1json/schema")
                    .map(|s| schema_name(Some(s)));
                let responses = op
                    .get("responses")
                    .and_then(|r| r.as_object())
                    .into_iter()
                    .flatten()
                    .map(|(status, r)| {
                        (
                            status.clone(),
                            text(r, "description"),
                            schema_name(r.pointer("/content/application~1json/schema")),
                        )
                    })
                    .collect();
                let scopes = op
                    .get("security")
                    .and_then(|s| s.as_array())
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.get("token").and_then(|t| t.as_array()))
                    .flatten()
                    .filter_map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                operations.push(Operation {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    summary: text(op, "summary"),
                    description: text(op, "description"),
                    tag: op
                        .pointer("/tags/0")
                        .and_then(|t| t.as_str())
                        .unwrap_or_default()
                        .to_string(),
                    scopes,
                    params,
                    body,
                    responses,
                });
            }
        }
    }
    operations.sort_by(|a, b| (&a.tag, &a.path, &a.method).cmp(&(&b.tag, &b.path, &b.method)));
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(|s| s.as_object())
        .into_iter()
        .flatten()
        .map(|(name, schema)| {
            (
                name.clone(),
                serde_json::to_string_pretty(schema).unwrap_or_default(),
            )
        })
        .collect();
    let page = ReferencePage {
        layout: Layout::new(&state, user.as_ref(), "API reference"),
        title: text(doc.get("info").unwrap_or(&doc), "title"),
        description: text(doc.get("info").unwrap_or(&doc), "description"),
        operations,
        schemas,
    };
    Ok(render(&page)?.into_response())
}
