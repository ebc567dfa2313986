-- wrk script: learners ticking skills, as static/progress.js does it.
--
--   TICK_COOKIE="pathway_session=..." TICK_ORIGIN=http://127.0.0.1:3996 TICK_SKILLS=a,b,c \
--     wrk -t2 -c32 -d10s -s bench/tick.lua http://127.0.0.1:3996
--
-- Each request is POST /skills/{id}/state with the fragment header and the form fields the
-- handler reads (state, version). Every request is a real change: the state alternates
-- in_progress <-> done, and the version sent is the one the last answer for that skill showed
-- (parsed from the returned fragment), so nothing is stale. Each wrk thread owns its own share
-- of the skills and never has two requests in flight for one skill. A 409 (stale version) or
-- any other status >= 400 shows in wrk's "Non-2xx or 3xx responses" line.

local cookie = os.getenv("TICK_COOKIE") or ""
local origin = os.getenv("TICK_ORIGIN") or ""
local all_skills = {}
for id in string.gmatch(os.getenv("TICK_SKILLS") or "", "[^,]+") do
  table.insert(all_skills, id)
end

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_no", counter)
  table.insert(threads, thread)
end

local mine, version, state, busy = {}, {}, {}, {}
local nthreads = 2
local cursor = 0

function init(args)
  nthreads = tonumber(os.getenv("TICK_THREADS") or "2")
  for i, id in ipairs(all_skills) do
    if (i - 1) % nthreads == (thread_no - 1) then
      table.insert(mine, id)
      version[id] = -1 -- unknown until the first answer; -1 means "ask with 0"
      state[id] = "not_started"
    end
  end
  if #mine == 0 then
    error("tick.lua: no skills for this thread (set TICK_SKILLS)")
  end
end

function request()
  local id
  for _ = 1, #mine do
    cursor = cursor % #mine + 1
    if not busy[mine[cursor]] then
      id = mine[cursor]
      break
    end
  end
  id = id or mine[cursor] -- every skill busy (more connections than skills): reuse one
  busy[id] = true
  local to = (state[id] == "in_progress") and "done" or "in_progress"
  local v = version[id]
  if v < 0 then v = 0 end
  local body = "state=" .. to .. "&version=" .. v
  return wrk.format("POST", "/skills/" .. id .. "/state", {
    ["Cookie"] = cookie,
    ["Origin"] = origin,
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Pathway-Fragment"] = "1",
  }, body)
end

function response(status, headers, body)
  if body == nil then return end
  local id = string.match(body, 'id="progress_([^"]+)"')
  if id == nil then return end
  busy[id] = nil
  local v = string.match(body, 'name="version" value="(%d+)"')
  if v then version[id] = tonumber(v) end
  local s = string.match(body, 'class="skill%-progress state%-([a-z_]+)"')
  if s then state[id] = s end
end
