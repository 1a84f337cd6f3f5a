-- wrk script for bench/proxy.sh: POSTs BENCH_BODY to BENCH_PATH, with "{n}" replaced by a
-- counter so that no two requests are alike (a cache misses), and prints one JSON line.
local body = os.getenv("BENCH_BODY")
local path = os.getenv("BENCH_PATH")
local headers = { ["Content-Type"] = "application/json" }
local n = 0

request = function()
  n = n + 1
  return wrk.format("POST", path, headers, (body:gsub("{n}", tostring(n))))
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":%d,"status_errors":%d,' ..
    '"p50_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000))
end
