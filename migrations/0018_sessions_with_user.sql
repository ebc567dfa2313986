-- Sessions know their user, so loading a session can join the user in one statement
-- and signing a user out everywhere can find their sessions.
-- The table was created by tower-sessions-sqlx-store; create it here for new databases.
create schema if not exists tower_sessions;
create table if not exists tower_sessions.session (
    id text primary key not null,
    data bytea not null,
    expiry_date timestamptz not null
);
alter table tower_sessions.session
    add column if not exists user_id bigint references users (id) on delete cascade;
create index if not exists session_by_user on tower_sessions.session (user_id);
