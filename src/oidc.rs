//! Single sign-on through OpenID Connect providers: the config file, discovery (retried lazily), and the clients.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    ClientId, ClientSecret, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdTokenFields, IssuerUrl, RedirectUrl, StandardErrorResponse, StandardTokenResponse,
};
use serde::Deserialize;

/// A client made from a provider's discovery document.
pub type Client = openidconnect::Client<
    Extra,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<
        IdTokenFields<
            Extra,
            EmptyExtraTokenFields,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >,
        CoreTokenType,
    >,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The ID token's claims beyond the standard ones, kept for the `groups_claim`.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
pub struct Extra {
    #[serde(flatten)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl openidconnect::AdditionalClaims for Extra {}

impl Extra {
    /// The names in claim `name` (a list of strings, or one string).
    pub fn groups(&self, name: &str) -> Vec<String> {
        match self.claims.get(name) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        }
    }
}

/// Discovery (and with it the signing keys) is repeated this often, so rotated keys are picked up.
const REDISCOVER_AFTER: Duration = Duration::from_secs(3600);
/// After a failed discovery, requests wait this long before asking the provider again.
const RETRY_AFTER: Duration = Duration::from_secs(10);
/// Any one request to a provider.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The `--oidc-config` file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Password sign-in, sign-up and reset are off, except for `break_glass_admin`.
    #[serde(default)]
    pub require_sso: bool,
    /// The one admin who may still sign in with a password when `require_sso` is on.
    #[serde(default)]
    pub break_glass_admin: Option<String>,
    #[serde(default, rename = "provider")]
    pub providers: Vec<ProviderConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// In URLs (`/auth/oidc/ID`) and the identities table; lowercase letters, digits, `-`.
    pub id: String,
    /// The button says "Sign in with NAME".
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The environment variable holding the secret (kept out of the file).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Scopes besides `openid`; defaults to `email` and `profile`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// When set, only verified addresses in these domains may sign in.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// Members of this group (in `groups_claim`) are admins, others not, set at each sign-in.
    #[serde(default)]
    pub admin_group: Option<String>,
    /// The ID-token claim listing the user's groups; `groups` by default.
    #[serde(default)]
    pub groups_claim: Option<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["email".into(), "profile".into()]
}

/// The providers this instance signs in through, and whether passwords are off.
#[derive(Default)]
pub struct Sso {
    pub providers: Vec<Provider>,
    pub require_sso: bool,
    pub break_glass_admin: Option<String>,
}

pub struct Provider {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub allowed_domains: Vec<String>,
    pub admin_group: Option<String>,
    pub groups_claim: String,
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: Option<ClientSecret>,
    redirect: RedirectUrl,
    http: openidconnect::reqwest::Client,
    discovered: tokio::sync::Mutex<Discovered>,
}

#[derive(Default)]
struct Discovered {
    client: Option<(Arc<Client>, Instant)>,
    failed_at: Option<Instant>,
}

impl Sso {
    /// Reads the config file; secrets named by `client_secret_env` come from the environment.
    pub fn load(path: &Path, public_url: &str) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the OpenID Connect config {} (--oidc-config)",
                path.display()
            )
        })?;
        let config: FileConfig = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid OpenID Connect config", path.display()))?;
        Self::from_config(config, public_url)
    }

    pub fn from_config(config: FileConfig, public_url: &str) -> anyhow::Result<Self> {
        let mut providers: Vec<Provider> = Vec::new();
        for p in config.providers {
            let id_ok = !p.id.is_empty()
                && p.id.len() <= 64
                && p.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            anyhow::ensure!(
                id_ok,
                "provider id '{}': use lowercase letters, digits and -",
                p.id
            );
            anyhow::ensure!(
                providers.iter().all(|other| other.id != p.id),
                "provider id '{}' appears twice",
                p.id
            );
            let secret = match (&p.client_secret, &p.client_secret_env) {
                (Some(secret), _) => Some(secret.clone()),
                (None, Some(var)) => Some(std::env::var(var).with_context(|| {
                    format!(
                        "provider '{}': the environment variable {var} (client_secret_env) is not set",
                        p.id
                    )
                })?),
                (None, None) => None,
            };
            let redirect = format!("{}/auth/oidc/{}/callback", public_url.trim_end_matches('/'), p.id);
            let http = openidconnect::reqwest::ClientBuilder::new()
                // Following redirects would expose the token endpoint to SSRF tricks.
                .redirect(openidconnect::reqwest::redirect::Policy::none())
                .timeout(HTTP_TIMEOUT)
                .build()
                .context("cannot build the HTTP client for OpenID Connect")?;
            providers.push(Provider {
                issuer: IssuerUrl::new(p.issuer.clone())
                    .with_context(|| format!("provider '{}': issuer is not a URL", p.id))?,
                client_id: ClientId::new(p.client_id),
                client_secret: secret.map(ClientSecret::new),
                redirect: RedirectUrl::new(redirect)
                    .context("the public URL does not make a redirect URI")?,
                http,
                discovered: tokio::sync::Mutex::default(),
                allowed_domains: p
                    .allowed_domains
                    .iter()
                    .map(|d| d.trim().to_ascii_lowercase())
                    .collect(),
                admin_group: p.admin_group,
                groups_claim: p.groups_claim.unwrap_or_else(|| "groups".into()),
                scopes: p.scopes,
                name: p.name,
                id: p.id,
            });
        }
        if config.require_sso {
            anyhow::ensure!(
                !providers.is_empty(),
                "require_sso needs at least one [[provider]]"
            );
        }
        Ok(Self {
            providers,
            require_sso: config.require_sso,
            break_glass_admin: config.break_glass_admin.map(|name| name.trim().to_lowercase()),
        })
    }

    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// Whether `username` may sign in (or reset a password) with a password.
    pub fn password_allowed(&self, username: &str) -> bool {
        !self.require_sso || self.break_glass_admin.as_deref() == Some(username)
    }

    /// (id, name) of each provider, for the sign-in page's buttons.
    pub fn buttons(&self) -> Vec<(String, String)> {
        self.providers
            .iter()
            .map(|p| (p.id.clone(), p.name.clone()))
            .collect()
    }

    /// Discovers every provider once, in the background; one that is down is retried on first use.
    pub fn discover_in_background(self: &Arc<Self>) {
        let sso = self.clone();
        tokio::spawn(async move {
            for provider in &sso.providers {
                if let Err(error) = provider.client().await {
                    tracing::warn!(provider = %provider.id, "OpenID Connect discovery failed (retried on the next sign-in): {error:#}");
                }
            }
        });
    }
}

impl Provider {
    pub fn http(&self) -> &openidconnect::reqwest::Client {
        &self.http
    }

    /// The client, discovering the provider when not done yet or done long ago.
    pub async fn client(&self) -> anyhow::Result<Arc<Client>> {
        let mut discovered = self.discovered.lock().await;
        if let Some((client, at)) = &discovered.client
            && at.elapsed() < REDISCOVER_AFTER
        {
            return Ok(client.clone());
        }
        if let Some(failed) = discovered.failed_at
            && failed.elapsed() < RETRY_AFTER
        {
            // A previous client, however old, beats none while the provider is down.
            if let Some((client, _)) = &discovered.client {
                return Ok(client.clone());
            }
            anyhow::bail!("the provider did not answer a moment ago");
        }
        match CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http).await {
            Ok(metadata) => {
                let client = Client::from_provider_metadata(
                    metadata,
                    self.client_id.clone(),
                    self.client_secret.clone(),
                )
                .set_redirect_uri(self.redirect.clone());
                let client = Arc::new(client);
                discovered.client = Some((client.clone(), Instant::now()));
                discovered.failed_at = None;
                tracing::info!(provider = %self.id, "OpenID Connect provider discovered");
                Ok(client)
            }
            Err(error) => {
                discovered.failed_at = Some(Instant::now());
                if let Some((client, _)) = &discovered.client {
                    tracing::warn!(provider = %self.id, "OpenID Connect re-discovery failed, keeping the previous keys: {error}");
                    return Ok(client.clone());
                }
                Err(anyhow::anyhow!(
                    "discovery of {} failed: {error}",
                    self.issuer.as_str()
                ))
            }
        }
    }

    /// Whether `email` (verified) is in the allowed domains; any address when none are set.
    pub fn allows(&self, email: Option<&str>) -> bool {
        if self.allowed_domains.is_empty() {
            return true;
        }
        let Some(domain) = email
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d.to_ascii_lowercase())
        else {
            return false;
        };
        self.allowed_domains.contains(&domain)
    }
}
