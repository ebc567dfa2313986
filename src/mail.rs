//! Email: the kinds people choose a delivery for, queuing notices as email, and the sender that works through the outbox over SMTP with retries.

use std::time::Duration;

use askama::Template;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sqlx::{PgConnection, PgPool};

use crate::auth::token;
use crate::config::{Config, SmtpTls};
use crate::db::email::{self, Outgoing};
use crate::notify::Notice;

/// The kinds of notice a person chooses a delivery for: (category, what the account page calls it).
pub const CATEGORIES: &[(&str, &str)] = &[
    ("reviews", "Review requests and answers"),
    ("nudges", "Reviews that have waited days for an answer"),
    ("reminders", "A friendly reminder when you have been away"),
    ("comments", "Comments on skills"),
    ("mentoring", "Mentor invitations and links"),
    ("teams", "Your teams"),
    ("admin", "Content problems (for admins)"),
    ("other", "Everything else"),
];

/// The category of emails that are not notices (a password-reset link); unsubscribing from
/// one stops all email.
pub const ACCOUNT: &str = "account";
/// The category of a digest; unsubscribing from one turns every digest back to in-app only.
pub const DIGEST: &str = "digest";
/// The category of an invitation emailed to someone without an account; unsubscribing
/// suppresses the address (`email_suppressions`).
pub const INVITATION: &str = "invitation";

/// What is wrong with an email address typed into a form, if anything (empty is fine).
pub fn address_problem(email: &str) -> Option<String> {
    let valid = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        });
    (!email.is_empty() && !valid).then(|| "Enter an address like name@example.com, or leave it empty.".into())
}

/// What became of an invitation to be emailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationMail {
    /// Queued: the sender delivers it (and retries) like any email.
    Queued(String),
    /// The address asked for no more invitations (an earlier email's unsubscribe link).
    Suppressed(String),
    /// Email is not set up on this server.
    Off,
}

impl InvitationMail {
    /// What the page that made the invitation says about it.
    pub fn message(&self) -> String {
        match self {
            Self::Queued(to) => format!("The invitation is on its way to {to}."),
            Self::Suppressed(to) => {
                format!("Not emailed: {to} asked Pathway not to send it invitations. Send the link yourself.")
            }
            Self::Off => "Not emailed: email is not set up on this server. Send the link yourself.".into(),
        }
    }
}

/// Emails an invitation link to `to` unless email is off or the address is suppressed.
/// `purpose` finishes "… invites you to": "create an account", "join the team Cohort".
pub async fn send_invitation(
    db: &sqlx::PgPool,
    email_on: bool,
    to: &str,
    (inviter, purpose): (&str, &str),
    link: &str,
    days: i32,
) -> anyhow::Result<InvitationMail> {
    let to = to.trim().to_lowercase();
    if !email_on {
        return Ok(InvitationMail::Off);
    }
    if crate::db::email::suppressed(db, &to).await? {
        return Ok(InvitationMail::Suppressed(to));
    }
    let message = Outgoing {
        user_id: None,
        to_address: to.clone(),
        category: INVITATION.to_string(),
        subject: format!("{inviter} invites you to {purpose} on Pathway"),
        body_text: InvitationText {
            inviter,
            purpose,
            link,
            days,
        }
        .render()?,
        body_html: InvitationHtml {
            inviter,
            purpose,
            link,
            days,
        }
        .render()?,
    };
    crate::db::email::enqueue(db, &[message]).await?;
    Ok(InvitationMail::Queued(to))
}

/// Which category a notice's kind belongs to.
pub fn category_of(kind: &str) -> &'static str {
    match kind {
        "review_requested" | "review_answered" => "reviews",
        "review_nudge" => "nudges",
        "quiet_reminder" | "stage_overdue" => "reminders",
        "comment" => "comments",
        "mentor_invited" | "invite_accepted" | "invite_declined" | "link_made" | "link_ended" => "mentoring",
        kind if kind.starts_with("team") => "teams",
        "content_held" | "content_failed" => "admin",
        _ => "other",
    }
}

/// How a category arrives when the person has not chosen: the nudges and reminders exist to
/// reach people who are not looking at Pathway, so they go by email; the rest stay in-app.
pub fn default_mode(category: &str) -> &'static str {
    match category {
        "nudges" | "reminders" => "immediate",
        _ => "in_app",
    }
}

/// What each delivery mode is called on the account page.
pub const MODES: &[(&str, &str)] = &[
    ("in_app", "In Pathway only"),
    ("immediate", "Email right away"),
    ("digest", "Daily digest email"),
];

#[derive(Template)]
#[template(path = "email/notice.txt")]
struct NoticeText<'a> {
    summary: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/notice.html")]
struct NoticeHtml<'a> {
    summary: &'a str,
    link: &'a str,
}

/// One line of a digest.
pub struct DigestLine {
    pub summary: String,
    pub link: String,
}

#[derive(Template)]
#[template(path = "email/digest.txt")]
struct DigestText<'a> {
    lines: &'a [DigestLine],
}

#[derive(Template)]
#[template(path = "email/digest.html")]
struct DigestHtml<'a> {
    lines: &'a [DigestLine],
}

#[derive(Template)]
#[template(path = "email/invitation.txt")]
struct InvitationText<'a> {
    inviter: &'a str,
    purpose: &'a str,
    link: &'a str,
    days: i32,
}

#[derive(Template)]
#[template(path = "email/invitation.html")]
struct InvitationHtml<'a> {
    inviter: &'a str,
    purpose: &'a str,
    link: &'a str,
    days: i32,
}

#[derive(Template)]
#[template(path = "email/reset.txt")]
struct ResetText<'a> {
    username: &'a str,
    link: &'a str,
    hours: i32,
}

#[derive(Template)]
#[template(path = "email/reset.html")]
struct ResetHtml<'a> {
    username: &'a str,
    link: &'a str,
    hours: i32,
}

/// Text for HTML: the five characters that matter escaped.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A subject line from a summary: one line, at most 120 characters.
fn subject_line(summary: &str) -> String {
    let line = summary.lines().next().unwrap_or_default().trim();
    if line.chars().count() > 120 {
        format!("{}…", line.chars().take(119).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Queues `notice` as email for those of its recipients who want it by email, right away
/// or in their digest, in the caller's transaction. `public_url` makes the links absolute.
/// A constant number of statements, however many recipients.
pub async fn queue_notice(conn: &mut PgConnection, public_url: &str, notice: &Notice) -> sqlx::Result<()> {
    let category = category_of(notice.kind);
    let routes = email::routes_for(&mut *conn, &notice.recipients, category, default_mode(category)).await?;
    let link = format!("{public_url}{}", notice.target_url);
    let text = NoticeText {
        summary: &notice.summary,
        link: &link,
    }
    .render()
    .map_err(|e| sqlx::Error::Protocol(format!("cannot render an email: {e}")))?;
    let html = NoticeHtml {
        summary: &notice.summary,
        link: &link,
    }
    .render()
    .map_err(|e| sqlx::Error::Protocol(format!("cannot render an email: {e}")))?;
    let mut now = Vec::new();
    let mut later = Vec::new();
    for route in routes {
        match route.mode.as_str() {
            "immediate" => now.push(Outgoing {
                user_id: Some(route.user_id),
                to_address: route.address,
                category: category.to_string(),
                subject: subject_line(&notice.summary),
                body_text: text.clone(),
                body_html: html.clone(),
            }),
            "digest" => later.push(route.user_id),
            _ => {}
        }
    }
    email::enqueue(&mut *conn, &now).await?;
    email::add_digest_items(&mut *conn, &later, category, &notice.summary, &notice.target_url).await
}

/// The digest email of `lines`.
pub fn digest(user_id: i64, address: String, lines: &[DigestLine]) -> anyhow::Result<Outgoing> {
    Ok(Outgoing {
        user_id: Some(user_id),
        to_address: address,
        category: DIGEST.to_string(),
        subject: format!(
            "Your Pathway digest: {} {}",
            lines.len(),
            if lines.len() == 1 { "update" } else { "updates" }
        ),
        body_text: DigestText { lines }.render()?,
        body_html: DigestHtml { lines }.render()?,
    })
}

/// A password-reset link, as email to the account's address.
pub fn reset_link(
    user_id: i64,
    address: String,
    username: &str,
    link: &str,
    hours: i32,
) -> anyhow::Result<Outgoing> {
    Ok(Outgoing {
        user_id: Some(user_id),
        to_address: address,
        category: ACCOUNT.to_string(),
        subject: "Set a new password for Pathway".into(),
        body_text: ResetText {
            username,
            link,
            hours,
        }
        .render()?,
        body_html: ResetHtml {
            username,
            link,
            hours,
        }
        .render()?,
    })
}

/// The SMTP connection and the sender's address.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// Where unsubscribe links point.
    public_url: String,
}

/// How many times a message is tried before it is marked failed (about a day of backoff).
pub const MAX_ATTEMPTS: i32 = 10;

impl Mailer {
    /// The mailer `config` describes; `None` when email is off (no `--smtp-host`).
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Self>> {
        let Some(host) = &config.smtp_host else {
            return Ok(None);
        };
        let from = config.mail_from.as_deref().ok_or_else(|| {
            anyhow::anyhow!("--smtp-host needs --mail-from (PATHWAY_MAIL_FROM), the sender's address")
        })?;
        let credentials = match (&config.smtp_username, &config.smtp_password) {
            (Some(user), Some(password)) => Some((user.clone(), password.clone())),
            (Some(_), None) => anyhow::bail!("--smtp-username needs --smtp-password (PATHWAY_SMTP_PASSWORD)"),
            _ => None,
        };
        Self::new(
            host,
            config.smtp_port,
            config.smtp_tls,
            credentials,
            from,
            &config.public_url(),
        )
        .map(Some)
    }

    pub fn new(
        host: &str,
        port: Option<u16>,
        tls: SmtpTls,
        credentials: Option<(String, String)>,
        from: &str,
        public_url: &str,
    ) -> anyhow::Result<Self> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| anyhow::anyhow!("--mail-from \"{from}\" is not an email address: {e}"))?;
        let (tls, default_port) = match tls {
            SmtpTls::None => (Tls::None, 25),
            SmtpTls::Starttls => (Tls::Required(TlsParameters::new(host.to_string())?), 587),
            SmtpTls::Tls => (Tls::Wrapper(TlsParameters::new(host.to_string())?), 465),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port.unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(Duration::from_secs(20)));
        if let Some((user, password)) = credentials {
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            public_url: public_url.trim_end_matches('/').to_string(),
        })
    }

    /// Builds and sends one queued message with a fresh unsubscribe link; returns the
    /// link's token hash to store with the row.
    async fn send(&self, row: &email::Queued) -> anyhow::Result<String> {
        let token = token::generate();
        let unsubscribe = format!("{}/unsubscribe/{token}", self.public_url);
        let what = if row.category == ACCOUNT {
            "Stop all email from Pathway"
        } else {
            "Stop emails like this one"
        };
        let text = format!(
            "{}\n-- \nChoose which emails you get: {}/account#email\n{what}: {unsubscribe}\n",
            row.body_text, self.public_url
        );
        let html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\
             <body>{}<hr><p>Choose which emails you get on <a href=\"{}/account#email\">your account page</a>. \
             <a href=\"{unsubscribe}\">{what}</a>.</p></body></html>\n",
            escape_html(&row.subject),
            row.body_html,
            self.public_url,
        );
        let to: Mailbox = row
            .to_address
            .parse()
            .map_err(|e| anyhow::anyhow!("\"{}\" is not an email address: {e}", row.to_address))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(row.subject.clone())
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{unsubscribe}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ))
            .multipart(MultiPart::alternative_plain_html(text, html))?;
        self.transport.send(message).await?;
        Ok(token::hash(&token))
    }
}

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendReport {
    pub sent: u64,
    pub failed: u64,
}

/// Sends the due messages, one transaction per message: the row is held (`skip locked`)
/// while it is sent, so two servers never send the same message, and a failure schedules
/// the next try after 1, 2, 4, … minutes (at most 6 hours), until [`MAX_ATTEMPTS`].
/// At most `limit` messages per call.
pub async fn send_due(pool: &PgPool, mailer: &Mailer, limit: usize) -> anyhow::Result<SendReport> {
    let mut report = SendReport::default();
    for _ in 0..limit {
        let mut tx = pool.begin().await?;
        let Some(row) = email::next_due(&mut *tx).await? else {
            break;
        };
        match mailer.send(&row).await {
            Ok(hash) => {
                email::mark_sent(&mut *tx, row.id, &hash).await?;
                report.sent += 1;
            }
            Err(error) => {
                // The error names the server and what it said, never the credentials.
                let text: String = format!("{error:#}").chars().take(500).collect();
                tracing::warn!(id = row.id, error = %text, "could not send an email; will retry");
                email::mark_failed(&mut *tx, row.id, &text, MAX_ATTEMPTS).await?;
                report.failed += 1;
            }
        }
        tx.commit().await?;
    }
    Ok(report)
}
