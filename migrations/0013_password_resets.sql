-- One-time password-reset links, made by an admin and handed over out of band.
-- Only a hash of the token is stored; a link works once, for a day, and making
-- a new one for the same user revokes the older unused ones.

create table password_resets (
    id          bigserial primary key,
    user_id     bigint not null references users (id) on delete cascade,
    token_hash  text not null unique,
    created_by  bigint references users (id) on delete set null,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    used_at     timestamptz,
    revoked_at  timestamptz
);

create index password_resets_open_by_user on password_resets (user_id)
    where used_at is null and revoked_at is null;
