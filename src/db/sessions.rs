//! The session store: sessions in PostgreSQL, loaded together with their user in one statement.
//!
//! It keeps the table and encoding of `tower-sessions-sqlx-store` (which it
//! replaces), plus a `user_id` column. Loading a session joins the user on it,
//! so a signed-in request costs one statement before its handler runs instead
//! of two; the user travels to `auth::load_user` inside the record under
//! [`USER_KEY`] and is never written back.

use async_trait::async_trait;
use sqlx::PgPool;
use tower_sessions::ExpiredDeletion;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::users::User;
use crate::auth::{SESSION_KEY, SessionAuth};

/// Where a loaded record carries the session's user, as it is in the database now.
pub const USER_KEY: &str = "_user";

#[derive(Debug, Clone)]
pub struct Sessions {
    pool: PgPool,
}

impl Sessions {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn backend(error: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(error.to_string())
}

/// The record as stored: without the user it was loaded with.
fn encode(record: &Record) -> session_store::Result<(Vec<u8>, Option<i64>)> {
    let user_id = record
        .data
        .get(SESSION_KEY)
        .and_then(|auth| serde_json::from_value::<SessionAuth>(auth.clone()).ok())
        .map(|auth| auth.user_id);
    let bytes = if record.data.contains_key(USER_KEY) {
        let mut stored = record.clone();
        stored.data.remove(USER_KEY);
        rmp_serde::to_vec(&stored)
    } else {
        rmp_serde::to_vec(record)
    }
    .map_err(|e| session_store::Error::Encode(e.to_string()))?;
    Ok((bytes, user_id))
}

async fn upsert(
    db: impl sqlx::PgExecutor<'_>,
    record: &Record,
    insert_only: bool,
) -> session_store::Result<bool> {
    let (data, user_id) = encode(record)?;
    let id = record.id.to_string();
    // Creating never overwrites: an existing id leaves the row alone and reports 0 rows.
    let written = sqlx::query!(
        "insert into tower_sessions.session (id, data, expiry_date, user_id) values ($1, $2, $3, $4)
         on conflict (id) do update set data = excluded.data, expiry_date = excluded.expiry_date,
             user_id = excluded.user_id
         where not $5",
        id,
        data,
        record.expiry_date,
        user_id,
        insert_only
    )
    .execute(db)
    .await
    .map_err(backend)?;
    Ok(written.rows_affected() == 1)
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A new random id that happens to exist already gets another one.
        while !upsert(&self.pool, record, true).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        upsert(&self.pool, record, false).await.map(|_| ())
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let Some(row) = sqlx::query!(
            r#"select s.data, u.id as "user_id?", u.username as "username?", u.display_name as "display_name?",
                      u.email, u.is_admin as "is_admin?", u.session_epoch as "session_epoch?",
                      u.disabled_at is not null as "disabled?",
                      (select count(*) from notifications n where n.recipient_id = u.id and n.read_at is null)
                          as "unread?",
                      (exists (select 1 from mentorships m where m.mentor_id = u.id
                                                             and m.status in ('active', 'invited'))
                       or exists (select 1 from team_members t where t.user_id = u.id and t.left_at is null
                                                                and t.role in ('mentor', 'lead'))) as "is_mentor?",
                      u.time_zone as "time_zone?",
                      exists (select 1 from team_members t where t.user_id = u.id and t.left_at is null)
                          as "in_team?",
                      coalesce((select sum(v.version) from view_versions v where v.user_id = u.id), 0)::bigint
                          as "view_version!",
                      (select epoch from view_epoch) as "view_epoch!"
               from tower_sessions.session s left join users u on u.id = s.user_id
               where s.id = $1 and s.expiry_date > now()"#,
            session_id.to_string()
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        else {
            return Ok(None);
        };
        let mut record: Record =
            rmp_serde::from_slice(&row.data).map_err(|e| session_store::Error::Decode(e.to_string()))?;
        if let (Some(id), Some(username), Some(display_name), Some(is_admin), Some(session_epoch)) = (
            row.user_id,
            row.username,
            row.display_name,
            row.is_admin,
            row.session_epoch,
        ) {
            let user = User {
                id,
                username,
                display_name,
                email: row.email,
                is_admin,
                session_epoch,
                disabled: row.disabled.unwrap_or(false),
                unread: row.unread.unwrap_or(0),
                is_mentor: row.is_mentor.unwrap_or(false),
                time_zone: row
                    .time_zone
                    .unwrap_or_else(|| crate::time_zones::DEFAULT.to_string()),
                in_team: row.in_team.unwrap_or(false),
                view_stamp: Some(crate::db::learner_view::ViewStamp {
                    version: row.view_version,
                    epoch: row.view_epoch,
                }),
            };
            let value =
                serde_json::to_value(&user).map_err(|e| session_store::Error::Encode(e.to_string()))?;
            record.data.insert(USER_KEY.into(), value);
        }
        Ok(Some(record))
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        sqlx::query!(
            "delete from tower_sessions.session where id = $1",
            session_id.to_string()
        )
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for Sessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        sqlx::query!("delete from tower_sessions.session where expiry_date < now()")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
