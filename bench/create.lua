-- POST /v1/payment_intents with confirm=true and the sandbox card pm_card_visa:
-- a durable create+confirm (intent, charge, ledger entry, events, idempotency).
local C = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local counter, tid, seed = 0, 0, 0
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
function init(args) seed = math.floor(os.time() % 1000000) * 1000 + math.random(0, 999) end
local customer = os.getenv("BENCH_CUSTOMER") or ""
if customer ~= "" then customer = "&customer=" .. customer end
function request()
  counter = counter + 1
  local key = string.format("bench-%d-%d-%d", seed, tid or 0, counter)
  local body = string.format(
    "amount=%d&currency=usd%s&payment_method=pm_card_visa&confirm=true"
      .. "&description=bench+%s&metadata[order]=%s",
    1000 + counter % 9000, customer, key, key)
  return wrk.format("POST", "/v1/payment_intents", C.headers({
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Idempotency-Key"] = key }), body)
end
done = C.done
