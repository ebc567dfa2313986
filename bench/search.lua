-- wrk script: searches over a large catalog, cycling through a mix of queries, with the
-- latency percentiles wrk's --latency table leaves out (p95).
--
--   SEARCH_PATHS="/search?q=http+caching /search?q=cache" \
--     wrk -t2 -c4 -d10s -s bench/search.lua http://127.0.0.1:3997
--
-- SEARCH_PATHS is a space-separated list of paths (already URL-encoded). Each thread starts
-- at a different place in the list, so every query is measured about as often. Any status
-- >= 400 shows in wrk's "Non-2xx or 3xx responses" line.

local paths = {}
for path in string.gmatch(os.getenv("SEARCH_PATHS") or "/search?q=http+caching", "%S+") do
  table.insert(paths, path)
end

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 3)
end

local i = 0
function request()
  i = i + 1
  local start = offset or 0
  return wrk.format("GET", paths[((start + i) % #paths) + 1])
end

function done(summary, latency, requests)
  io.write(string.format("search p50 %.2f ms, p95 %.2f ms, p99 %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
