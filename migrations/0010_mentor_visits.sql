-- When a mentor last opened a mentee, for "new since my last visit".
create table mentor_visits (
    mentor_id  bigint not null references users (id) on delete cascade,
    mentee_id  bigint not null references users (id) on delete cascade,
    seen_at    timestamptz not null default now(),
    primary key (mentor_id, mentee_id)
);
