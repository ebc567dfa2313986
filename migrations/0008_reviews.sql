-- Reviews: a learner asks their mentors to check a skill they marked done;
-- the first mentor to answer verifies it or asks for changes.

create table review_requests (
    id            bigserial primary key,
    mentee_id     bigint not null references users (id) on delete cascade,
    skill_id      text not null references skills (id),
    message       text not null default '',
    status        text not null check (status in ('pending', 'verified', 'changes_requested', 'withdrawn')),
    requested_at  timestamptz not null default now(),
    answered_by   bigint references users (id) on delete set null,
    answered_at   timestamptz,
    answer        text
);

create unique index review_requests_one_pending on review_requests (mentee_id, skill_id) where status = 'pending';
create index review_requests_pending on review_requests (status, requested_at);

-- "Verified by X on date": distinct from self-claimed done, withdrawn when the state leaves done.
alter table skill_progress
    add column verified_by bigint references users (id) on delete set null,
    add column verified_at timestamptz;

-- Review actions are events too, with the actor and their message.
alter table progress_events drop constraint progress_events_kind_check;
alter table progress_events add constraint progress_events_kind_check check (kind in (
    'set', 'stage_done', 'undo', 'reset', 'import',
    'review_requested', 'verify', 'changes_requested', 'unverify'));
alter table progress_events add column message text;
