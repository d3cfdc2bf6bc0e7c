-- bench/common.lua: shared by the bench/*.lua wrk scripts (loaded with dofile).
-- Environment (set by bench/run): BENCH_KEY (API key), BENCH_IDS (file of
-- ids, one a line), BENCH_CUSTOMER (cus_...). Every POST gets a unique
-- Idempotency-Key: the thread number, a per-run seed and a counter.
local M = {}

function M.headers(extra)
  local h = { ["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "") }
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

function M.read_ids(path)
  local ids = {}
  if path == nil or path == "" then return ids end
  local f = io.open(path, "r")
  if f == nil then return ids end
  for line in f:lines() do
    if line ~= "" then ids[#ids + 1] = line end
  end
  f:close()
  return ids
end

-- One line the driver parses: latency in microseconds, counts.
function M.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end

return M
