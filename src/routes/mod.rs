//! HTTP routes, one module per area (handlers and the templates only they use); what pages share is in `crate::pages`.

pub mod account;
pub mod admin;
pub mod admin_content;
pub mod admin_users;
pub mod comments;
pub mod content_assets;
pub mod email;
pub mod form;
pub mod health;
pub mod mentoring;
pub mod notes;
pub mod notifications;
pub mod oidc;
pub mod progress;
pub mod public;
pub mod search;
pub mod teams;
pub mod tokens;
pub mod transfer;
pub mod two_factor;
pub mod webhooks;

// What every page is made of lives in `crate::pages`; route modules keep reaching it as `super::…`.
pub use crate::pages::{Layout, format_date, format_datetime, format_day, render};
