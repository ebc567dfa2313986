//! Telling people what happened: a `Notifier` trait, so email can join later, and the in-app implementation.

use std::future::Future;
use std::pin::Pin;

use sqlx::PgPool;

use crate::db::notifications;

/// Something worth telling `recipients` about.
#[derive(Debug, Clone)]
pub struct Notice {
    pub recipients: Vec<i64>,
    /// Who did it; None for what Pathway itself noticed (a held content change).
    pub actor_id: Option<i64>,
    pub kind: &'static str,
    pub summary: String,
    pub target_url: String,
}

pub type Delivery<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// A way to deliver notices. The app uses [`InApp`]; an email notifier can be
/// added beside it without touching the code that raises notices.
pub trait Notifier: Send + Sync {
    fn deliver<'a>(&'a self, notice: &'a Notice) -> Delivery<'a>;
}

/// Stores notices as in-app notifications.
#[derive(Debug, Clone)]
pub struct InApp {
    pub db: PgPool,
}

impl Notifier for InApp {
    fn deliver<'a>(&'a self, notice: &'a Notice) -> Delivery<'a> {
        Box::pin(async move {
            notifications::insert(
                &self.db,
                &notice.recipients,
                notice.actor_id,
                notice.kind,
                &notice.summary,
                &notice.target_url,
            )
            .await?;
            Ok(())
        })
    }
}

/// Delivers `notice` to everyone but its actor: nobody is notified of their own actions.
pub async fn send(notifier: &dyn Notifier, mut notice: Notice) -> anyhow::Result<()> {
    notice.recipients.retain(|id| Some(*id) != notice.actor_id);
    notice.recipients.sort_unstable();
    notice.recipients.dedup();
    if notice.recipients.is_empty() {
        return Ok(());
    }
    notifier.deliver(&notice).await
}
