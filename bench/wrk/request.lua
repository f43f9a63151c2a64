-- One request shape for every scenario (bench/harness.py sets the environment):
--   BENCH_METHOD   GET or POST
--   BENCH_HEADERS  "Name: value" lines
--   BENCH_BODY     the body of every request, or
--   BENCH_BODIES   a file with one body per line, each sent once (single-use codes and refresh
--                  tokens); wrk's threads take every n-th line so that no body is sent twice.
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY") or ""
local bodies_file = os.getenv("BENCH_BODIES") or ""
local headers = {}
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end
if method == "POST" and not headers["Content-Type"] then
  headers["Content-Type"] = "application/x-www-form-urlencoded"
end

local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local bodies, next_body = nil, 1
function init(args)
  if bodies_file ~= "" then
    bodies = {}
    local i = 0
    local f = assert(io.open(bodies_file, "r"))
    for line in f:lines() do
      if i % nthreads == id then table.insert(bodies, line) end
      i = i + 1
    end
    f:close()
  end
end

function request()
  local b = body
  if bodies then
    b = bodies[next_body] or ""   -- exhausted: an empty body, answered 400 and counted as non-2xx
    next_body = next_body + 1
  end
  return wrk.format(method, nil, headers, method == "POST" and b or nil)
end
