-- Where the running server is reached, recorded at start-up, so that CLI commands run
-- beside it (`pathway invite create`, `pathway admin create`, `pathway demo`) print links
-- on the server's address and port rather than on their own defaults.
create table server_address (
    singleton boolean primary key default true check (singleton),
    public_url text not null,
    recorded_at timestamptz not null default now()
);
