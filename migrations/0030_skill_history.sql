-- A learner's history of one skill (the review queue shows it beside each request): an
-- index probe on the skill's events, not a walk through the learner's whole history.
create index progress_events_by_user_skill on progress_events (user_id, skill_id, at desc);
