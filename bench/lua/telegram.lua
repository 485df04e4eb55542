-- wrk script: Telegram webhook updates, each a new message (unique update_id and chat:message key),
-- so every request is a real commit rather than a cheap exact-duplicate answer.
--
--   TELEGRAM_SECRET=<[channels.telegram] secret_token> \
--     wrk -t2 -c64 -d30s -s bench/lua/telegram.lua http://127.0.0.1:8080
--
-- Uniqueness: the chat id carries the run's start time and the wrk thread number, the message id a
-- per-thread counter; runs against the same outbox a second or more apart do not collide.

package.path = "bench/lua/?.lua;" .. package.path
local common = require("common")

local secret = os.getenv("TELEGRAM_SECRET") or "bench-secret"
local run = os.time() % 100000000
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(_args)
  chat_id = run * 100 + (thread_number or 0)
  sequence = 0
  headers = {
    ["Content-Type"] = "application/json",
    ["X-Telegram-Bot-Api-Secret-Token"] = secret,
  }
end

function request()
  sequence = sequence + 1
  local body = string.format(
    '{"update_id":%d,"message":{"message_id":%d,' ..
    '"from":{"id":%d,"is_bot":false,"first_name":"Warga","language_code":"id"},' ..
    '"chat":{"id":%d,"first_name":"Warga","type":"private"},"date":%d,' ..
    '"text":"Jalan berlubang di Jl. Merdeka no %d, mohon segera diperbaiki #jalan"}}',
    (thread_number or 0) * 1000000000 + sequence, sequence, chat_id, chat_id, run, sequence)
  return wrk.format("POST", "/webhooks/telegram", headers, body)
end

delay = common.pacing()
