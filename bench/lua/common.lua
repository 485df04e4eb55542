-- Shared by the wrk scripts in bench/lua: ids unique across threads and runs, and paced mode.
-- wrk runs one Lua state per thread and starts each with the same random sequence, so the prefix
-- is seeded from the kernel (a repeated prefix would turn every request into an exact duplicate).
local common = {}

local function seed()
  local urandom = io.open("/dev/urandom", "rb")
  local bytes = urandom:read(4)
  urandom:close()
  local value = 0
  for i = 1, 4 do value = value * 256 + bytes:byte(i) end
  return value
end

-- A fresh prefix per Lua state (per wrk thread).
function common.unique_prefix()
  math.randomseed(seed())
  return tostring(math.random(1, 1e9)) .. "-" .. tostring(math.random(1, 1e9))
end

-- Paced mode (latency at a fixed rate, as bench/ingest.py runs it): BENCH_DELAY_MS per request
-- per connection; returns the delay function for wrk or nil.
function common.pacing()
  local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
  if pace > 0 then
    return function() return pace end
  end
  return nil
end

-- POST /v1/reports with a JSON body and an Idempotency-Key unique to this thread, run and request.
function common.report_request(prefix, counter, body)
  return wrk.format("POST", "/v1/reports", {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "bench-" .. prefix .. "-" .. counter,
  }, body)
end

function common.urlescape(value)
  return (value:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

return common
