-- Opt-in public profiles: off by default, and only the roadmaps a learner picks.
alter table users add column public_profile boolean not null default false;
alter table enrollments add column on_profile boolean not null default false;
