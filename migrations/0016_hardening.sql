-- Sign-in throttling that an attacker cannot turn against the account's owner.

-- Browsers that signed in to an account before (OWASP "device cookies"): a
-- failed-attempt lock-out elsewhere never blocks them. Only a hash of the
-- cookie's token is kept.
create table trusted_devices (
    token_hash    text primary key,
    user_id       bigint not null references users (id) on delete cascade,
    created_at    timestamptz not null default now(),
    last_used_at  timestamptz not null default now()
);

create index trusted_devices_by_user on trusted_devices (user_id);

-- A failed attempt from a trusted device counts against that device only.
alter table sign_in_failures add column device_hash text;

create index sign_in_failures_by_device on sign_in_failures (device_hash, failed_at desc)
    where device_hash is not null;

-- Other actions limited per address or per person per window: sign-ups,
-- password-reset links used, comments. One row per attempt; pruned daily.
create table rate_events (
    id       bigserial primary key,
    action   text not null,
    subject  text not null,
    at       timestamptz not null default now()
);

create index rate_events_by_subject on rate_events (action, subject, at desc);
