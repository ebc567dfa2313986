-- Administration: the first-run setup token, and an audit log of admin actions.

alter table invites drop constraint invites_kind_check;
alter table invites add constraint invites_kind_check check (kind in ('registration', 'setup'));

create table audit_log (
    id        bigserial primary key,
    actor_id  bigint references users (id) on delete set null,
    action    text not null,
    target    text not null default '',
    details   jsonb not null default '{}',
    at        timestamptz not null default now()
);

create index audit_log_by_time on audit_log (at desc);
create index audit_log_by_action on audit_log (action, at desc);
