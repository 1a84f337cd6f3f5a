-- wrk script for bench/proxy.sh: POSTs the file BENCH_BODY to BENCH_PATH, with "{n}" replaced
-- by a counter so that no two requests are alike (a cache misses), and prints one JSON line.
local file = io.open(os.getenv("BENCH_BODY"), "rb")
local body = file:read("*a")
file:close()
local path = os.getenv("BENCH_PATH")
local headers = { ["Content-Type"] = "application/json" }
local n = 0

-- Split once at "{n}": a 128 KB body is not scanned again for every request.
local at = body:find("{n}", 1, true)
local head = at and body:sub(1, at - 1) or body
local tail = at and body:sub(at + 3) or ""

request = function()
  n = n + 1
  return wrk.format("POST", path, headers, at and (head .. n .. tail) or body)
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
