-- Single sign-on (OpenID Connect): which provider account signs in as which user. A
-- provider's `sub` is stable and unique per provider; the email is as the provider last
-- said it, for the account page. An identity dies with its account.
create table user_identities (
    id           bigserial primary key,
    provider     text not null check (length(provider) between 1 and 64),
    subject      text not null check (length(subject) between 1 and 255),
    user_id      bigint not null references users (id) on delete cascade,
    email        text,
    created_at   timestamptz not null default now(),
    last_used_at timestamptz,
    unique (provider, subject)
);

-- The account page lists a user's identities; unlinking counts them.
create index user_identities_by_user on user_identities (user_id);
