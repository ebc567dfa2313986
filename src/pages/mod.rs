//! What pages are made of: the layout, date formats, and the page models several route modules share, so that route modules use these and not each other.

pub mod overview;
pub mod paging;
pub mod skill;
pub mod stage;
pub mod thread;
pub mod workspace;

use askama::Template;
use axum::response::Html;

use crate::app::AppState;
use crate::db::users::User;
use crate::error::AppError;

/// What the base layout needs on every page.
#[derive(Debug, Clone)]
pub struct Layout {
    pub title: String,
    /// Fingerprint appended to static URLs for cache-busting.
    pub asset_version: String,
    /// The signed-in user, for the header.
    pub user: Option<User>,
}

impl Layout {
    pub fn new(state: &AppState, user: Option<&User>, title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            asset_version: state.assets.version.clone(),
            user: user.cloned(),
        }
    }
}

/// Renders a template, turning a template failure into a logged 500.
pub fn render<T: Template>(template: &T) -> Result<Html<String>, AppError> {
    Ok(Html(template.render()?))
}

/// "5 Nov 2026": the day it was in the viewer's time zone.
pub fn format_date(at: time::OffsetDateTime) -> String {
    crate::time_zones::viewer().date(at)
}

/// "5 Nov 2026, 14:03 CET", in the viewer's time zone.
pub fn format_datetime(at: time::OffsetDateTime) -> String {
    crate::time_zones::viewer().date_time(at)
}

/// "5 Nov 2026" for a calendar date (a target date): no zone to convert, it is that day
/// wherever the viewer is; "today" and "overdue" come from the viewer's zone
/// (`time_zones::viewer().today()`).
pub fn format_day(day: time::Date) -> String {
    format!("{} {} {}", day.day(), &day.month().to_string()[..3], day.year())
}
