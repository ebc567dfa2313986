//! Telling people what happened: a `Notifier` trait, and the implementation that writes in-app notifications and queues the email people asked for.

use std::future::Future;
use std::pin::Pin;

use sqlx::{PgConnection, PgPool};

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

/// A way to deliver notices. The app uses [`InApp`], which also queues email.
pub trait Notifier: Send + Sync {
    fn deliver<'a>(&'a self, notice: &'a Notice) -> Delivery<'a>;
}

/// Stores notices as in-app notifications and, when email is on, queues them as email for
/// those who want it.
#[derive(Debug, Clone)]
pub struct InApp {
    pub db: PgPool,
    /// The public URL (for the emails' links) when email goes out; `None`: in-app only.
    pub email: Option<String>,
}

impl Notifier for InApp {
    fn deliver<'a>(&'a self, notice: &'a Notice) -> Delivery<'a> {
        Box::pin(async move {
            let mut tx = self.db.begin().await?;
            deliver_in(&mut tx, self.email.as_deref(), notice).await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

/// Delivers `notice` in the caller's transaction: the in-app rows, and with `email` (the
/// public URL) the email and digest items its recipients chose. Background jobs use this
/// so that what they record as sent and what they send commit together.
pub async fn deliver_in(conn: &mut PgConnection, email: Option<&str>, notice: &Notice) -> sqlx::Result<()> {
    notifications::insert(
        &mut *conn,
        &notice.recipients,
        notice.actor_id,
        notice.kind,
        &notice.summary,
        &notice.target_url,
    )
    .await?;
    if let Some(public_url) = email {
        crate::mail::queue_notice(conn, public_url, notice).await?;
    }
    Ok(())
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
