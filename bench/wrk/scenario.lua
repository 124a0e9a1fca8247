-- wrk script for every scenario of bench/run.sh, rotating through real data.
-- Environment:
--   BENCH_SCENARIO  list | get | update | create | delete | login
--   BENCH_DATA      tab-separated rows: "token<TAB>task id" (login: "email<TAB>password")
--   BENCH_RESULT    file that receives one line of results (see done())
--   BENCH_THREADS   wrk's -t, to cut the data into one slice per thread (delete)
-- Delete gives each thread its own slice so every task is deleted once; a
-- thread that runs out wraps around and its requests become 404s (counted).

local scenario = os.getenv("BENCH_SCENARIO")
local data_file = os.getenv("BENCH_DATA")
local result_file = os.getenv("BENCH_RESULT")

local next_id = 0
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

function init(args)
  rows = {}
  for line in io.lines(data_file) do
    local a, b = line:match("^([^\t]*)\t(.*)$")
    rows[#rows + 1] = { a, b }
  end
  local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
  if scenario == "delete" then
    local per = math.floor(#rows / threads)
    first = thread_id * per + 1
    last = first + per - 1
  else
    -- Threads start far apart so they do not walk the same rows in step.
    first = 1
    last = #rows
  end
  cursor = first + (scenario == "delete" and 0 or (thread_id * 7919) % #rows)
  sent = 0
end

local function next_row()
  local row = rows[cursor]
  cursor = cursor + 1
  if cursor > last then
    cursor = first
  end
  return row
end

function request()
  local row = next_row()
  sent = sent + 1
  if scenario == "login" then
    return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" },
      string.format('{"email":"%s","password":"%s"}', row[1], row[2]))
  end
  local headers = { ["Authorization"] = "Bearer " .. row[1] }
  if scenario == "list" then
    return wrk.format("GET", "/api/v1/tasks?limit=20", headers)
  elseif scenario == "get" then
    return wrk.format("GET", "/api/v1/tasks/" .. row[2], headers)
  elseif scenario == "update" then
    headers["Content-Type"] = "application/json"
    local body = (sent % 2 == 0) and '{"completed":true}' or '{"completed":false}'
    return wrk.format("PATCH", "/api/v1/tasks/" .. row[2], headers, body)
  elseif scenario == "create" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/v1/tasks", headers, '{"title":"bench task ' .. sent .. '"}')
  elseif scenario == "delete" then
    return wrk.format("DELETE", "/api/v1/tasks/" .. row[2], headers)
  end
  error("unknown BENCH_SCENARIO " .. tostring(scenario))
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local f = assert(io.open(result_file, "w"))
  -- errors.status counts answers with status >= 400; socket errors are apart.
  f:write(string.format("requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f http_errors=%d socket_errors=%d\n",
    summary.requests, summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
  f:close()
end
