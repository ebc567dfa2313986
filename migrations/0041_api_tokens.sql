-- Personal access tokens for the JSON API (/api/v1). Only the SHA-256 of a token is kept;
-- the token itself is shown once. A token dies with its account (on delete cascade), when
-- revoked, when it expires, and while its owner is disabled (checked at lookup).
create table api_tokens (
    id           bigserial primary key,
    user_id      bigint not null references users (id) on delete cascade,
    name         text not null check (length(name) between 1 and 100),
    -- The token's first characters, to tell tokens apart in the list.
    prefix       text not null check (length(prefix) <= 16),
    token_hash   text not null unique,
    scopes       text[] not null check (
                     cardinality(scopes) > 0
                     and scopes <@ array['read:progress', 'write:progress', 'mentor:read', 'mentor:review']),
    created_at   timestamptz not null default now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- The account page lists a user's tokens, newest first.
create index api_tokens_by_user on api_tokens (user_id, id desc);
