//! Pathway: a self-hosted, server-rendered learning-path tracker.

pub mod actions;
pub mod api;
pub mod app;
pub mod assets;
pub mod auth;
pub mod backup;
pub mod charts;
pub mod cli;
pub mod client_addr;
pub mod config;
pub mod content;
pub mod db;
pub mod demo;
pub mod embedded_pg;
pub mod error;
pub mod jobs;
pub mod mail;
pub mod markdown;
pub mod metrics;
pub mod notes;
pub mod notify;
pub mod oidc;
pub mod pages;
pub mod progress;
pub mod routes;
pub mod time_zones;
pub mod transfer;
pub mod view_cache;
pub mod webhooks;

pub use app::{AppState, router, serve};
