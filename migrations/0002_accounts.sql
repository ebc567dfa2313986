-- People and how they sign in. Sessions live in the session store's own
-- table (tower_sessions.session), created by the store at start-up.

create table users (
    id             bigserial primary key,
    username       text not null check (username ~ '^[a-z0-9][a-z0-9_-]{2,31}$'),
    display_name   text not null check (length(display_name) between 1 and 80),
    email          text,
    password_hash  text not null,
    -- Bumped when the password changes: sessions carrying an older epoch
    -- are signed out on their next request.
    session_epoch  integer not null default 0,
    is_admin       boolean not null default false,
    disabled_at    timestamptz,
    created_at     timestamptz not null default now()
);

create unique index users_username_key on users (username);

-- Failed sign-ins, for throttling per account and per address.
create table sign_in_failures (
    id         bigserial primary key,
    username   text not null,
    ip         text,
    failed_at  timestamptz not null default now()
);

create index sign_in_failures_by_username on sign_in_failures (username, failed_at desc);
create index sign_in_failures_by_ip on sign_in_failures (ip, failed_at desc);

-- Single-use links: registration invites now; mentor invites, password
-- resets and first-run setup later. Only a hash of the token is stored.
create table invites (
    id          bigserial primary key,
    token_hash  text not null unique,
    kind        text not null check (kind in ('registration')),
    created_by  bigint references users (id) on delete set null,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    used_at     timestamptz,
    used_by     bigint references users (id) on delete set null,
    revoked_at  timestamptz
);
