-- Background jobs (review nudges, quiet reminders, the email digest) and outgoing email.

-- One row per scheduled sweep. An instance runs a due sweep inside a transaction that holds
-- the row (`for update skip locked`), so with several servers exactly one runs it.
create table jobs (
    name text primary key,
    next_run_at timestamptz not null default now(),
    last_run_at timestamptz,
    -- "3 sent", or the error of the last failed run.
    last_outcome text
);
insert into jobs (name) values ('review_nudges'), ('quiet_reminders'), ('email_digest');

-- What the sweeps sent, one row per (kind, subject, step): inserted in the transaction that
-- sends, so a sweep run again (a restart, a second server) finds it and sends nothing.
create table job_sends (
    kind text not null,
    subject_id bigint not null,
    -- '2d' / '5d' for a review's nudges; the quiet spell's start for a reminder.
    step text not null,
    recipients bigint[] not null,
    sent_at timestamptz not null default now(),
    primary key (kind, subject_id, step)
);

-- How each person wants each kind of notice: in the app only (no row), by email right
-- away, or in a daily digest. In the app they always are.
create table email_preferences (
    user_id bigint not null references users (id) on delete cascade,
    category text not null,
    mode text not null check (mode in ('in_app', 'immediate', 'digest')),
    primary key (user_id, category)
);

-- Reminders after a quiet spell: on unless the learner switches them off; all email can be
-- stopped at once (an unsubscribe link's "stop all").
alter table users add column quiet_reminders boolean not null default true;
alter table users add column email_stopped boolean not null default false;

-- Every email, waiting, sent or given up on. Only the unsubscribe token's hash is kept.
create table email_outbox (
    id bigserial primary key,
    user_id bigint references users (id) on delete cascade,
    to_address text not null,
    category text not null,
    subject text not null,
    body_text text not null,
    body_html text not null,
    -- Set when sent: the link is made at sending time, so it is never stored in clear.
    unsubscribe_hash text unique,
    status text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_error text,
    created_at timestamptz not null default now(),
    sent_at timestamptz
);
-- The sender's queue, and the admin page's list of problems.
create index email_outbox_due on email_outbox (next_attempt_at) where status = 'pending';
create index email_outbox_problems on email_outbox (created_at desc) where last_error is not null;

-- Notices waiting for someone's daily digest; deleted when the digest is queued.
create table email_digest_items (
    id bigserial primary key,
    user_id bigint not null references users (id) on delete cascade,
    category text not null,
    summary text not null,
    target_url text not null,
    created_at timestamptz not null default now()
);
create index email_digest_items_by_user on email_digest_items (user_id, id);
