-- Invitations can be emailed to people who have no account yet. Such an email's unsubscribe
-- link cannot switch off a person's preferences, so it records the address here instead, and
-- no invitation is sent to it again.
create table email_suppressions (
    address text primary key check (address = lower(address)),
    created_at timestamptz not null default now()
);
