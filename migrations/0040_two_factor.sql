-- Two-factor sign-in (TOTP, RFC 6238): one secret per enrolled user, and single-use recovery codes.
create table two_factor (
    user_id     bigint primary key references users (id) on delete cascade,
    -- The shared secret (20 random bytes); the server must read it to check codes.
    secret      bytea not null,
    -- The last time step whose code was accepted: a step is accepted only once.
    last_step   bigint not null default 0,
    enabled_at  timestamptz not null default now()
);

create table recovery_codes (
    user_id    bigint not null references users (id) on delete cascade,
    -- SHA-256 of the normalised code; the codes themselves are shown once and not kept.
    code_hash  text not null,
    used_at    timestamptz,
    primary key (user_id, code_hash)
);
