-- Content plans and /admin/content count the learners of a few skills (those a load
-- retires, renames or changes). Without these, each count read every learner's
-- progress, notes and evidence. The skill_progress index leaves `state` out so a
-- state change stays a HOT update; the count reads `state` from the heap rows the
-- index points at, which are only that skill's.
create index skill_progress_by_skill on skill_progress (skill_id, user_id);
create index notes_by_skill on notes (skill_id, user_id);
create index evidence_by_skill on evidence (skill_id, user_id);
