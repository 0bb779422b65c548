-- wrk: POST executions to the tracking endpoint, as the site script does (text/plain, key in body).
-- Reads BENCH_IDS (one workflow id per line, or goal id for conversions), BENCH_KEY, BENCH_BATCH
-- (executions per request; 0 sends a preflight instead: the framework floor), BENCH_KIND
-- ("execution"; "visitor": each with a new visitor's id; "conversion": a new visitor's conversion).
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local key = os.getenv("BENCH_KEY")
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local kind = os.getenv("BENCH_KIND") or "execution"
local counter = 0
local threads = 0

-- Each wrk thread runs its own copy of this script: seed each apart, or all send the same ids.
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_number or 0))
end

local function hex(digits)
  local parts = {}
  for i = 1, digits / 4 do parts[i] = string.format("%04x", math.random(0, 0xffff)) end
  return table.concat(parts)
end

-- What the site script posts: its own id for the run (a retry repeats it), when it started,
-- and each action's name, selector, timing, settings and error.
local function record()
  local id = ids[math.random(#ids)]
  return '{"workflowId":"' .. id .. '","status":"success","executionTimeMs":250,'
    .. '"pageUrl":"https://example.com/pricing","sessionId":"s","deviceType":"desktop",'
    .. '"triggerName":"UTM Parameters","executionId":"' .. hex(32) .. '",'
    .. '"startedAt":"' .. os.date("!%Y-%m-%dT%H:%M:%SZ") .. '","actions":['
    .. '{"name":"Replace Text","selector":".a","executionTimeMs":4,"config":{"text":"Offer"},"error":""},'
    .. '{"name":"Add Class","selector":".b","executionTimeMs":2,"config":{"className":"x"},"error":""},'
    .. '{"name":"Hide","selector":".c","executionTimeMs":1,"config":{},"error":""}]'
    .. (kind == "visitor" and (',"visitorId":"' .. hex(32) .. '"') or "") .. '}'
end

-- What the site script posts when a visitor reaches a goal.
local function conversion()
  return '{"goalId":"' .. ids[math.random(#ids)] .. '","visitorId":"' .. hex(32) .. '",'
    .. '"conversionId":"' .. hex(32) .. '","occurredAt":"' .. os.date("!%Y-%m-%dT%H:%M:%SZ") .. '",'
    .. '"pageUrl":"https://example.com/thanks","siteKey":"' .. key .. '"}'
end

request = function()
  counter = counter + 1
  if batch == 0 then  -- the framework floor: a CORS preflight, no body, no I/O
    return wrk.format("OPTIONS", "/api/track-execution")
  end
  if kind == "conversion" then
    return wrk.format("POST", "/api/track-conversion", {["Content-Type"] = "text/plain"}, conversion())
  end
  local body
  if batch == 1 then
    body = record():sub(1, -2) .. ',"siteKey":"' .. key .. '"}'
  else
    local items = {}
    for i = 1, batch do items[i] = record() end
    body = '{"siteKey":"' .. key .. '","executions":[' .. table.concat(items, ",") .. ']}'
  end
  return wrk.format("POST", "/api/track-execution", {["Content-Type"] = "text/plain"}, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors=%d p50_us=%d p99_us=%d status_errors=%d\n",
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), summary.errors.status))
end
