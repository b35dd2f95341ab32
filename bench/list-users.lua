-- wrk script for bench/bench.mjs: each request lists users with the next of several searches, as
-- the paths in KEYDESK_BENCH_PATHS (one a line, already URL-encoded) give them; at the end it
-- prints the figures as one line of JSON.
local paths = {}
for path in string.gmatch(os.getenv("KEYDESK_BENCH_PATHS") or "", "[^\n]+") do
  table.insert(paths, path)
end

counter = 0
local threads = 0

function setup(thread)
  -- Threads start at different searches, so that they do not move in step.
  thread:set("counter", threads * 5)
  threads = threads + 1
end

function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1])
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"errors":%d,"non_2xx":%d,"bytes":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max,
    errors.connect + errors.read + errors.write + errors.timeout, errors.status, summary.bytes))
end
