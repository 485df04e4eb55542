-- wrk script: POST / (the web form, urlencoded, as a browser without JavaScript sends it), a new
-- submission_id per request so each request is a new report (a repeated id measures the duplicate path).
--
-- The form needs a CSRF token: the same value in the lapor_csrf cookie and the csrf_token field,
-- HMAC-signed and valid for [channels.web] csrf_ttl seconds (default 4 h), so one token serves the
-- whole run. Three ways to give it, first found wins:
--   1. as the script argument:   wrk ... -s bench/lua/form.lua URL -- TOKEN
--   2. in LAPOR_FORM_CSRF, e.g. minted offline with the configured [channels.web] csrf_secret:
--        LAPOR_FORM_CSRF=$(.venv/bin/python -c 'from adapters.web.guard import Signer; \
--          print(Signer("SECRET", 3600).new_csrf_token())')
--      or fetched once from a running gateway:
--        LAPOR_FORM_CSRF=$(curl -s -D - -o /dev/null http://127.0.0.1:8080/ | sed -n 's/^Set-Cookie: lapor_csrf=\([^;]*\).*/\1/p')
--   3. neither: each connection sends GET / until a response's Set-Cookie gives a token (those few
--      GETs are counted in wrk's totals).
-- The gateway under test needs [channels.web] rate_limit = 0: all of wrk's requests come from one address.
--
--   wrk -t2 -c64 -d30s -s bench/lua/form.lua http://127.0.0.1:8080
-- A 303 (to the confirmation page) is success; a 4xx is the form refusing (see its error summary).

package.path = "bench/lua/?.lua;" .. package.path
local common = require("common")

local counter = 0
local prefix
local token = nil
local text = "Jalan di depan pasar berlubang besar dan membahayakan pengendara motor, mohon segera diperbaiki."

function init(args)
  prefix = common.unique_prefix()
  token = args[1] or os.getenv("LAPOR_FORM_CSRF")
  if token == "" then token = nil end
  if token then
    response = nil -- no bootstrap: wrk then skips handing every response to Lua
  end
end

function request()
  if not token then
    return wrk.format("GET", "/")
  end
  counter = counter + 1
  local body = "csrf_token=" .. common.urlescape(token)
    .. "&submission_id=bench-" .. prefix .. "-" .. string.format("%010d", counter)
    .. "&lang=id&website=&kind=complaint&subject=" .. common.urlescape("Jalan berlubang")
    .. "&body=" .. common.urlescape(text) .. "&phone=081234567890"
  return wrk.format("POST", "/", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "lapor_csrf=" .. token,
  }, body)
end

function response(status, headers, body)
  if token then return end
  local cookie = headers["Set-Cookie"] or headers["set-cookie"]
  if cookie then
    token = cookie:match("lapor_csrf=([^;]+)")
  end
end

delay = common.pacing()
