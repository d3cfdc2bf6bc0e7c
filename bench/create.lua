-- POST /v1/payment_intents with confirm=true and the sandbox card pm_card_visa:
-- a durable create+confirm (intent, charge, ledger entry, events, idempotency).
local C = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local counter, seed, nthreads = 0, 0, 0
-- tid is a global of the thread's Lua state, set by setup() in the main
-- state (a local here would shadow it and stay 0 in every thread).
function setup(thread) nthreads = nthreads + 1; thread:set("tid", nthreads) end
-- One customer (BENCH_CUSTOMER: every payment by the same patient, the worst
-- case for per-customer locks and counts), or a pool (BENCH_IDS: a file of
-- customer ids, taken in turn).
local customer = os.getenv("BENCH_CUSTOMER") or ""
if customer ~= "" then customer = "&customer=" .. customer end
local pool = {}
function init(args)
  seed = math.floor(os.time() % 1000000) * 1000 + math.random(0, 999)
  pool = C.read_ids(os.getenv("BENCH_IDS"))
end
function request()
  counter = counter + 1
  local key = string.format("bench-%d-%d-%d", seed, tid or 0, counter)
  if #pool > 0 then
    customer = "&customer=" .. pool[(counter * 7 + (tid or 0) * 131) % #pool + 1]
  end
  local body = string.format(
    "amount=%d&currency=usd%s&payment_method=pm_card_visa&confirm=true"
      .. "&description=bench+%s&metadata[order]=%s",
    1000 + counter % 9000, customer, key, key)
  return wrk.format("POST", "/v1/payment_intents", C.headers({
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Idempotency-Key"] = key }), body)
end
done = C.done
