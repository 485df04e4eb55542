-- POST /v1/reports: every request a new report (unique Idempotency-Key) from its own citizen
-- (a different phone per request, and per run: a second run against the same gateway, a warm-up
-- or the paced latency run, must not turn its citizens into known senders), with one realistic
-- complaint text.
package.path = "bench/lua/?.lua;" .. package.path
local common = require("common")

local counter = 0
local prefix
local phones -- where this run's phone numbers start

function init(_args)
  prefix = common.unique_prefix() -- seeds math.random
  phones = math.random(0, 99999999)
end

request = function()
  counter = counter + 1
  local phone = string.format("0812%08d", (phones + counter * 7919) % 100000000)
  local body = '{"body":"Jalan di depan pasar berlubang besar dan membahayakan pengendara motor, mohon segera'
    .. ' diperbaiki. #jalanrusak","kind":"complaint","phone":"' .. phone .. '"}'
  return common.report_request(prefix, counter, body)
end

delay = common.pacing()
