-- wrk script: POST /webhooks/whatsapp with correctly signed text webhooks, a unique wamid each.
-- wrk's Lua cannot compute HMAC-SHA256, so the bodies are pre-signed by bench_bodies.py:
--
--   .venv/bin/python -m adapters.whatsapp.bench_bodies --secret "$APP_SECRET" --count 200000 --out /tmp/wa.txt
--   wrk -t2 -c64 -d30s -s bench/lua/whatsapp.lua http://127.0.0.1:8080/webhooks/whatsapp -- /tmp/wa.txt 2
--
-- Script arguments: the bodies file and the number of wrk threads (-t), so that each thread sends
-- its own lines (line i goes to thread i mod threads) and no wamid is sent twice. A thread that runs
-- out of lines starts over; done() reports it, since those requests measure the exact-duplicate path.

package.path = "bench/lua/?.lua;" .. package.path
local common = require("common")

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1] or error("usage: wrk ... -s bench/lua/whatsapp.lua URL -- BODIES_FILE THREADS")
  local nthreads = tonumber(args[2] or "1")
  lines = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == tid - 1 then
      local space = line:find(" ", 1, true)
      lines[#lines + 1] = { line:sub(1, space - 1), line:sub(space + 1) }
    end
    i = i + 1
  end
  if #lines == 0 then error("no bodies for thread " .. tid .. " in " .. path) end
  nextline = 1
  wrapped = 0
end

function request()
  local item = lines[nextline]
  nextline = nextline + 1
  if nextline > #lines then
    nextline = 1
    wrapped = wrapped + 1
  end
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = item[1],
  }, item[2])
end

function done(summary, latency, requests)
  local wraps = 0
  for _, thread in ipairs(threads) do
    wraps = wraps + (thread:get("wrapped") or 0)
  end
  -- wrk itself prints "Non-2xx or 3xx responses" when any answer was not a 200.
  io.write(string.format("whatsapp bench: bodies reused %d times (those requests were exact duplicates)\n", wraps))
end

delay = common.pacing()
