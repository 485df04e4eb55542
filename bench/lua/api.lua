-- POST /v1/reports with a unique Idempotency-Key per request (each request is a new report).
-- wrk runs one Lua state per thread; the thread id keeps keys unique across threads.
local counter = 0
local prefix = tostring(math.random(1, 1e9))

function setup(thread)
  thread:set("prefix", tostring(math.random(1, 1e9)))
end

function init(args)
  prefix = prefix .. "-" .. (wrk.thread and wrk.thread:get("prefix") or tostring(math.random(1, 1e9)))
end

request = function()
  counter = counter + 1
  local body = '{"body":"Jalan di depan pasar berlubang besar dan membahayakan pengendara motor, mohon segera diperbaiki. #jalanrusak","kind":"complaint","phone":"081234567890"}'
  return wrk.format("POST", "/v1/reports", {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "bench-" .. prefix .. "-" .. counter,
  }, body)
end

-- Paced mode (for latency at a fixed rate): BENCH_DELAY_MS per request per connection.
local pace = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pace > 0 then
  delay = function() return pace end
end
