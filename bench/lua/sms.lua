-- wrk script: POST /webhooks/sms/generic, a valid token-authenticated SMS with a unique message id per
-- request (so every request is a new report, not a provider retry). Sender and text are fixed, the same
-- load shape as bench/lua/api.lua, so the two scenarios' ratio isolates the SMS webhook's own cost.
--
--   BENCH_SMS_TOKEN=<channels.sms.generic.token> wrk -t1 -c32 -d15s --latency \
--       -s bench/lua/sms.lua http://127.0.0.1:8080/webhooks/sms/generic
--
-- BENCH_DELAY_MS paces each connection (latency at a fixed rate), as bench/lua/api.lua does.
package.path = "bench/lua/?.lua;" .. package.path
local common = require("common")

local counter = 0
local prefix
local token = os.getenv("BENCH_SMS_TOKEN") or error("set BENCH_SMS_TOKEN to channels.sms.generic.token")
local text = "Jalan+di+depan+pasar+Cibubur+berlubang+besar%2C+membahayakan+pengendara+motor.+Mohon+segera"
  .. "+diperbaiki+%23jalanrusak"

function init(_args)
  prefix = common.unique_prefix()
end

request = function()
  counter = counter + 1
  local body = "from=%2B6281234567890&to=1708&id=bench-" .. prefix .. "-" .. counter .. "&text=" .. text
  return wrk.format("POST", "/webhooks/sms/generic", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

delay = common.pacing()
