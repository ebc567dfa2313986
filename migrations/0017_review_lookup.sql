-- Stage pages read a learner's review requests of every status for their skills;
-- only pending ones were indexed, so each such page scanned the table.
create index review_requests_by_mentee_skill on review_requests (mentee_id, skill_id);
