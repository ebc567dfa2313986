-- In-app notifications, and comment threads on a mentee's skills.

create table notifications (
    id            bigserial primary key,
    recipient_id  bigint not null references users (id) on delete cascade,
    actor_id      bigint references users (id) on delete set null,
    kind          text not null,
    -- Already in words ("Max verified Methods"), so listing needs no joins.
    summary       text not null,
    -- A path inside Pathway that opening the notification leads to.
    target_url    text not null check (target_url like '/%' and target_url not like '//%'),
    created_at    timestamptz not null default now(),
    read_at       timestamptz
);

create index notifications_unread on notifications (recipient_id) where read_at is null;
create index notifications_by_recipient on notifications (recipient_id, created_at desc);

create table comments (
    id                 bigserial primary key,
    mentee_id          bigint not null references users (id) on delete cascade,
    skill_id           text not null references skills (id),
    author_id          bigint references users (id) on delete set null,
    body_md            text not null,
    review_request_id  bigint references review_requests (id) on delete set null,
    evidence_id        bigint references evidence (id) on delete set null,
    created_at         timestamptz not null default now(),
    edited_at          timestamptz,
    deleted_at         timestamptz
);

create index comments_by_thread on comments (mentee_id, skill_id, created_at);
