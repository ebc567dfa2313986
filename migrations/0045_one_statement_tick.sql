-- A tick (a learner setting one skill's state) was six round trips to the database:
-- start the roadmap, begin, lock the row, take an action id, write, commit. Each one costs
-- the server and PostgreSQL a message exchange and a statement's fixed overhead, which on a
-- tick were as much as the write itself. Now it is one call, `progress_set_state`, run as
-- its own transaction.
--
-- The write shared by every state change (ticks, "mark stage done", undo, reset, reviews)
-- moves here from src/db/progress.rs unchanged, so the tick and the other paths use one copy.
-- Its arguments, in order: user, skill, new state, reset dates?, the moment being reverted
-- (or null), action id, actor, event kind, old state, the action it undoes (or null), the
-- event's message (or null). The caller holds the row lock, so `before` is the row as it
-- stands. One statement: the state, the event, and, when the skill leaves done, the withdrawn
-- review request and verification (with an event saying so). Returns the rows written.
create function progress_write_change(
    bigint, text, text, boolean, timestamptz, bigint, bigint, text, text, bigint, text
) returns bigint language plpgsql volatile as $$
declare
    rows_written bigint;
begin
    with before as (
        select verified_by is not null as verified from skill_progress where user_id = $1 and skill_id = $2
    ), written as (
        insert into skill_progress (user_id, skill_id, state, started_at, done_at, done_content_hash)
        values ($1, $2, $3,
                case when $3 <> 'not_started' then now() end,
                case when $3 = 'done' then now() end,
                case when $3 = 'done' then (select content_hash from skills where id = $2) end)
        on conflict (user_id, skill_id) do update set
            state = excluded.state,
            started_at = case
                when $4 then excluded.started_at
                when excluded.state = 'not_started' and skill_progress.started_at = $5 then null
                else coalesce(skill_progress.started_at, excluded.started_at) end,
            done_at = case
                when $4 then excluded.done_at
                when excluded.state <> 'done' and skill_progress.done_at = $5 then null
                else coalesce(skill_progress.done_at, excluded.done_at) end,
            done_content_hash = coalesce(excluded.done_content_hash, skill_progress.done_content_hash),
            verified_by = case when excluded.state = 'done' then skill_progress.verified_by end,
            verified_at = case when excluded.state = 'done' then skill_progress.verified_at end,
            updated_at = now(),
            version = skill_progress.version + 1
        returning 1
    ), withdrawn as (
        update review_requests set status = 'withdrawn', answered_at = now()
        where $3 <> 'done' and mentee_id = $1 and skill_id = $2 and status = 'pending'
        returning 1
    ), events as (
        insert into progress_events (id, action_id, user_id, skill_id, actor_id, kind, from_state, to_state,
                                     undoes, content_hash, message)
        select nextval('progress_events_id_seq'), $6, $1, $2, $7, e.kind, e.from_state, $3, e.undoes,
               e.content_hash, e.message
        from (
            select 1 as n, 'unverify' as kind, 'done' as from_state, null::bigint as undoes,
                   null::text as content_hash,
                   'Verification withdrawn: the skill is no longer done.' as message
            from before where before.verified and $3 <> 'done'
            union all
            select 2, $8, $9, $10, case when $3 = 'done' then (select content_hash from skills where id = $2) end,
                   $11
        ) e order by e.n
        returning 1
    )
    select (select count(*) from written) + (select count(*) from withdrawn) + (select count(*) from events)
    into rows_written;
    return rows_written;
end;
$$;

-- A learner sets one skill's state, if the page they acted on showed `seen_version` of it
-- (0: no row yet). Starts `roadmap` for them first unless it is null or already started.
-- Outcome 'applied' (with the new action's id), 'unchanged' (the skill already had that
-- state) or 'stale' (it changed since). `current_state` is the skill's state after the call. Nothing is written
-- unless applied, apart from the start of the roadmap.
create function progress_set_state(
    uid bigint, roadmap text, skill text, target text, seen_version integer,
    out outcome text, out current_state text, out action bigint
) language plpgsql volatile as $$
declare
    was_version integer;
begin
    -- The usual case must not try an insert: a conflicting insert would still run the
    -- enrollment's before-insert trigger, which reads the learner's progress on the roadmap.
    if roadmap is not null then
        insert into enrollments (user_id, roadmap_id)
        select uid, roadmap
        where not exists (select 1 from enrollments e where e.user_id = uid and e.roadmap_id = roadmap)
        on conflict do nothing;
    end if;
    select p.state, p.version into current_state, was_version
    from skill_progress p where p.user_id = uid and p.skill_id = skill
    for update;
    if not found then
        current_state := 'not_started';
        was_version := 0;
    end if;
    if was_version <> seen_version then
        outcome := 'stale';
        return;
    end if;
    if current_state = target then
        outcome := 'unchanged';
        return;
    end if;
    if was_version = 0 then
        -- Two first changes may race to insert the row: the loser is stale. The insert
        -- waits for the winner to commit, and the next statement's snapshot sees its row.
        insert into skill_progress (user_id, skill_id, state, version) values (uid, skill, 'not_started', 0)
        on conflict do nothing;
        if not found then
            select p.state into current_state from skill_progress p where p.user_id = uid and p.skill_id = skill;
            outcome := 'stale';
            return;
        end if;
    end if;
    action := nextval('progress_actions');
    perform progress_write_change(uid, skill, target, false, null, action, uid, 'set', current_state, null, null);
    outcome := 'applied';
    current_state := target;
end;
$$;
