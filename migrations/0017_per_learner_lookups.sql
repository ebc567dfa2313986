-- Stage pages read a learner's review requests of every status for their skills;
-- only pending ones were indexed, so each such page scanned the table.
create index review_requests_by_mentee_skill on review_requests (mentee_id, skill_id);

-- "Was this action undone?" is asked per learner: look it up among that learner's
-- undo events, never across everyone's.
create index progress_events_undoes_by_user on progress_events (user_id, undoes) where undoes is not null;
