//! Test support: an OpenID provider on a loopback socket, written with openidconnect's own
//! types (RS256 with a test-only key). It signs the configured account straight in, and can
//! issue expired ID tokens or ones for another audience.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use openidconnect::core::{CoreGenderClaim, CoreJweContentEncryptionAlgorithm};
use openidconnect::core::{
    CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType,
    CoreRsaPrivateSigningKey, CoreSubjectIdentifierType,
};
use openidconnect::{
    Audience, AuthUrl, EmptyAdditionalProviderMetadata, EndUserEmail, EndUserUsername, IssuerUrl,
    JsonWebKeyId, JsonWebKeySetUrl, Nonce, PrivateSigningKey, ResponseTypes, StandardClaims,
    SubjectIdentifier, TokenUrl,
};
use openidconnect::{IdToken, IdTokenClaims};
use sha2::Digest;
use tokio::net::TcpListener;

pub const CLIENT_ID: &str = "pathway";
pub const CLIENT_SECRET: &str = "test-secret";
const KEY: &str = include_str!("../fixtures/oidc_test_key.pem");

/// Who the provider signs in, and how it misbehaves.
#[derive(Clone)]
pub struct Account {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    /// Sent as the `groups` claim when set.
    pub groups: Option<Vec<String>>,
}

#[derive(Default)]
pub struct Knobs {
    /// The ID token expired an hour ago.
    pub expired: bool,
    /// The ID token names this audience instead of the client.
    pub audience: Option<String>,
}

struct Grant {
    account: Account,
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
}

pub struct ProviderState {
    issuer: String,
    /// The one redirect URI registered for the client.
    pub redirect_uri: Mutex<String>,
    account: Mutex<Account>,
    pub knobs: Mutex<Knobs>,
    codes: Mutex<HashMap<String, Grant>>,
    key: CoreRsaPrivateSigningKey,
}

pub type Shared = Arc<ProviderState>;

pub struct Provider {
    pub issuer: String,
    pub state: Shared,
}

impl Provider {
    pub async fn start(redirect_uri: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ProviderState {
            issuer: issuer.clone(),
            redirect_uri: Mutex::new(redirect_uri),
            account: Mutex::new(account("sub-1", "grace@example.com", true, "grace")),
            knobs: Mutex::default(),
            codes: Mutex::default(),
            key: CoreRsaPrivateSigningKey::from_pem(KEY, Some(JsonWebKeyId::new("k1".into()))).unwrap(),
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { issuer, state }
    }

    pub fn sign_in_as(&self, account: Account) {
        *self.state.account.lock().unwrap() = account;
    }
}

pub fn account(subject: &str, email: &str, verified: bool, username: &str) -> Account {
    Account {
        subject: subject.into(),
        email: Some(email.into()),
        email_verified: verified,
        preferred_username: Some(username.into()),
        groups: None,
    }
}

async fn discovery(State(state): State<Shared>) -> Response {
    let metadata = CoreProviderMetadata::new(
        IssuerUrl::new(state.issuer.clone()).unwrap(),
        AuthUrl::new(format!("{}/authorize", state.issuer)).unwrap(),
        JsonWebKeySetUrl::new(format!("{}/jwks", state.issuer)).unwrap(),
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        EmptyAdditionalProviderMetadata {},
    )
    .set_token_endpoint(Some(TokenUrl::new(format!("{}/token", state.issuer)).unwrap()));
    axum::Json(metadata).into_response()
}

async fn jwks(State(state): State<Shared>) -> Response {
    axum::Json(CoreJsonWebKeySet::new(vec![state.key.as_verification_key()])).into_response()
}

/// Signs the configured account straight in (no login form) and sends the browser back.
async fn authorize(State(state): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Response {
    let redirect_uri = query.get("redirect_uri").cloned().unwrap_or_default();
    if query.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || redirect_uri != *state.redirect_uri.lock().unwrap()
    {
        return (StatusCode::BAD_REQUEST, "unknown client or redirect_uri").into_response();
    }
    if query.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return (StatusCode::BAD_REQUEST, "PKCE S256 required").into_response();
    }
    let code = format!("code-{}", pathway::auth::token::generate());
    state.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            account: state.account.lock().unwrap().clone(),
            nonce: query.get("nonce").cloned(),
            challenge: query.get("code_challenge").cloned().unwrap_or_default(),
            redirect_uri: redirect_uri.clone(),
        },
    );
    let back = format!(
        "{redirect_uri}?code={code}&state={}",
        url::form_urlencoded::byte_serialize(query.get("state").map_or("", String::as_str).as_bytes())
            .collect::<String>()
    );
    Redirect::to(&back).into_response()
}

fn invalid_grant(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({ "error": "invalid_grant", "error_description": why })),
    )
        .into_response()
}

async fn token(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    // A code works once: taken out of the map whatever follows.
    let Some(grant) = form
        .get("code")
        .and_then(|code| state.codes.lock().unwrap().remove(code))
    else {
        return invalid_grant("unknown or used code");
    };
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return invalid_grant("redirect_uri differs");
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    if challenge != grant.challenge {
        return invalid_grant("PKCE verifier does not match");
    }
    let knobs = state.knobs.lock().unwrap();
    let now = chrono::Utc::now();
    let (issued, expires) = if knobs.expired {
        (now - chrono::Duration::hours(2), now - chrono::Duration::hours(1))
    } else {
        (now, now + chrono::Duration::minutes(5))
    };
    let audience = knobs.audience.clone().unwrap_or_else(|| CLIENT_ID.to_string());
    let mut standard = StandardClaims::new(SubjectIdentifier::new(grant.account.subject.clone()));
    if let Some(email) = &grant.account.email {
        standard = standard
            .set_email(Some(EndUserEmail::new(email.clone())))
            .set_email_verified(Some(grant.account.email_verified));
    }
    if let Some(name) = &grant.account.preferred_username {
        standard = standard.set_preferred_username(Some(EndUserUsername::new(name.clone())));
    }
    let mut extra = pathway::oidc::Extra::default();
    if let Some(groups) = &grant.account.groups {
        extra.claims.insert("groups".into(), serde_json::json!(groups));
    }
    let claims = IdTokenClaims::<pathway::oidc::Extra, CoreGenderClaim>::new(
        IssuerUrl::new(state.issuer.clone()).unwrap(),
        vec![Audience::new(audience)],
        expires,
        issued,
        standard,
        extra,
    )
    .set_nonce(grant.nonce.map(Nonce::new));
    let id_token = IdToken::<_, _, CoreJweContentEncryptionAlgorithm, _>::new(
        claims,
        &state.key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .unwrap();
    axum::Json(serde_json::json!({
        "access_token": "access",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
    .into_response()
}
