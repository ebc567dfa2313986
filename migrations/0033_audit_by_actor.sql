-- The audit log narrowed to one person, newest first.
create index audit_log_by_actor on audit_log (actor_id, at desc);
