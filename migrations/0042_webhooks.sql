-- Outgoing webhooks: endpoints (site-wide, or a team's) and their deliveries, queued by
-- triggers in the transaction of the change itself (so a rolled-back change sends nothing)
-- and sent by the job loop (src/webhooks.rs).

create table webhook_endpoints (
    id bigserial primary key,
    -- Null: site-wide, managed by admins. Otherwise the team whose learners' events it gets.
    team_id bigint references teams (id) on delete cascade,
    url text not null check (length(url) between 1 and 2000),
    -- The HMAC key; kept in clear because every delivery is signed with it.
    secret text not null,
    events text[] not null check (cardinality(events) > 0
        and events <@ array['skill.done', 'stage.done', 'review.requested', 'review.answered']),
    active boolean not null default true,
    created_by bigint references users (id) on delete set null,
    created_at timestamptz not null default now()
);
create index webhook_endpoints_by_team on webhook_endpoints (team_id, id);
-- The triggers' first question: does anyone listen at all?
create index webhook_endpoints_active on webhook_endpoints (id) where active;

-- One row per event and endpoint. `payload` lacks only the delivery id, added when sent.
create table webhook_deliveries (
    id bigserial primary key,
    endpoint_id bigint not null references webhook_endpoints (id) on delete cascade,
    event text not null,
    payload jsonb not null,
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    -- Tries since queued (or redelivered): sets the backoff.
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    last_status integer,
    last_error text,
    created_at timestamptz not null default now(),
    delivered_at timestamptz
);
-- The sender's queue, and an endpoint's log.
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_by_endpoint on webhook_deliveries (endpoint_id, id desc);

-- Every try, with what the receiver answered (at most 2 KB of its body).
create table webhook_attempts (
    id bigserial primary key,
    delivery_id bigint not null references webhook_deliveries (id) on delete cascade,
    at timestamptz not null default now(),
    response_status integer,
    response_body text,
    duration_ms integer not null,
    error text
);
create index webhook_attempts_by_delivery on webhook_attempts (delivery_id, id);

-- Queues `payload` for every active endpoint wanting `event`: site-wide ones, and those of
-- teams that have the learner as a current learner and one of `roadmaps` assigned.
create function webhooks_enqueue(event text, learner bigint, roadmaps text[], payload jsonb)
returns void language sql as $$
    insert into webhook_deliveries (endpoint_id, event, payload)
    select e.id, event,
           jsonb_build_object('event', event, 'occurred_at', now()) || payload
    from webhook_endpoints e
    where e.active and event = any (e.events)
      and (e.team_id is null or exists (
          select 1 from team_members m
          join team_roadmaps tr on tr.team_id = m.team_id
          where m.team_id = e.team_id and m.user_id = learner and m.role = 'learner'
            and m.left_at is null and tr.roadmap_id = any (roadmaps)))
$$;

create function webhooks_person(id bigint) returns jsonb language sql stable as $$
    select jsonb_build_object('username', u.username, 'display_name', u.display_name)
    from users u where u.id = $1
$$;

-- The learner, and the skill in its home roadmap and stage.
create function webhooks_skill_payload(learner bigint, skill text) returns jsonb language sql stable as $$
    select jsonb_build_object(
        'learner', webhooks_person(learner),
        'roadmap', jsonb_build_object('id', r.id, 'title', r.title),
        'stage', jsonb_build_object('id', st.id, 'title', st.title),
        'skill', jsonb_build_object('id', s.id, 'title', s.title, 'optional', s.optional))
    from skills s
    join stages st on st.roadmap_id = s.roadmap_id and st.id = s.stage_id
    join roadmaps r on r.id = s.roadmap_id
    where s.id = skill
$$;

-- A skill became done (skill.done), and each stage of a started roadmap whose required
-- skills that change finished (stage.done). Imports and resets send nothing.
create function webhooks_follow_progress() returns trigger language plpgsql as $$
declare
    place record;
begin
    if new.kind not in ('set', 'stage_done', 'undo') or new.to_state not in ('done', 'skipped')
       or new.from_state in ('done', 'skipped') then
        return null;
    end if;
    -- Nobody listens: the usual case costs this one probe.
    if not exists (select 1 from webhook_endpoints where active) then
        return null;
    end if;
    if new.to_state = 'done' then
        perform webhooks_enqueue('skill.done', new.user_id,
            array(select sp.roadmap_id from skill_places sp where sp.skill_id = new.skill_id),
            webhooks_skill_payload(new.user_id, new.skill_id));
    end if;
    for place in
        select sp.roadmap_id, sp.stage_id, r.title as roadmap_title, st.title as stage_title
        from skill_places sp
        join stages st on st.roadmap_id = sp.roadmap_id and st.id = sp.stage_id
        join roadmaps r on r.id = sp.roadmap_id
        where sp.skill_id = new.skill_id and not sp.optional and sp.retired_at is null
          and exists (select 1 from enrollments e where e.user_id = new.user_id and e.roadmap_id = sp.roadmap_id)
          and not exists (
              select 1 from skill_places q
              where q.roadmap_id = sp.roadmap_id and q.stage_id = sp.stage_id
                and not q.optional and q.retired_at is null
                and not exists (select 1 from skill_progress p
                                where p.user_id = new.user_id and p.skill_id = q.skill_id
                                  and p.state in ('done', 'skipped')))
    loop
        perform webhooks_enqueue('stage.done', new.user_id, array[place.roadmap_id],
            jsonb_build_object(
                'learner', webhooks_person(new.user_id),
                'roadmap', jsonb_build_object('id', place.roadmap_id, 'title', place.roadmap_title),
                'stage', jsonb_build_object('id', place.stage_id, 'title', place.stage_title),
                'skill', (webhooks_skill_payload(new.user_id, new.skill_id) -> 'skill')));
    end loop;
    return null;
end
$$;
create trigger webhooks_on_progress after insert on progress_events
    for each row execute function webhooks_follow_progress();

-- A review was requested (review.requested) or answered (review.answered).
create function webhooks_follow_reviews() returns trigger language plpgsql as $$
declare
    event text;
begin
    if tg_op = 'INSERT' and new.status = 'pending' then
        event := 'review.requested';
    elsif tg_op = 'UPDATE' and old.status = 'pending' and new.status in ('verified', 'changes_requested') then
        event := 'review.answered';
    else
        return null;
    end if;
    if not exists (select 1 from webhook_endpoints where active) then
        return null;
    end if;
    perform webhooks_enqueue(event, new.mentee_id,
        array(select sp.roadmap_id from skill_places sp where sp.skill_id = new.skill_id),
        webhooks_skill_payload(new.mentee_id, new.skill_id)
        || jsonb_build_object('review', jsonb_build_object(
               'id', new.id, 'status', new.status, 'message', new.message,
               'requested_at', new.requested_at, 'answer', new.answer,
               'answered_at', new.answered_at,
               'reviewer', case when new.answered_by is not null then webhooks_person(new.answered_by) end)));
    return null;
end
$$;
create trigger webhooks_on_review after insert or update of status on review_requests
    for each row execute function webhooks_follow_reviews();
