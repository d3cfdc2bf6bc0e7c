-- A mix, per 10 requests: 2 create+confirm, 5 retrieves, 2 lists, 1 refund.
-- BENCH_IDS: intent ids to retrieve; BENCH_IDS2: customers to list;
-- BENCH_IDS3: large intents to refund from.
local C = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local intents, customers, big = {}, {}, {}
local counter, seed, nthreads, hdrs = 0, 0, 0, nil
local customer = os.getenv("BENCH_CUSTOMER") or ""
-- tid is a global of the thread's Lua state, set by setup() in the main
-- state (a local here would shadow it and stay 0 in every thread).
function setup(thread) nthreads = nthreads + 1; thread:set("tid", nthreads) end
function init(args)
  intents = C.read_ids(os.getenv("BENCH_IDS"))
  customers = C.read_ids(os.getenv("BENCH_IDS2"))
  big = C.read_ids(os.getenv("BENCH_IDS3"))
  seed = math.floor(os.time() % 1000000) * 1000 + math.random(0, 999)
  counter = math.random(0, 1000)
  hdrs = C.headers()
end
local form = "application/x-www-form-urlencoded"
function request()
  counter = counter + 1
  local k = counter % 10
  if k < 2 then
    local key = string.format("bench-mx-%d-%d-%d", seed, tid or 0, counter)
    return wrk.format("POST", "/v1/payment_intents",
      C.headers({ ["Content-Type"] = form, ["Idempotency-Key"] = key }),
      "amount=2500&currency=usd&payment_method=pm_card_visa&confirm=true&customer="
        .. customer .. "&metadata[order]=" .. key)
  elseif k < 7 then
    return wrk.format("GET", "/v1/payment_intents/" .. intents[counter % #intents + 1], hdrs)
  elseif k < 9 then
    return wrk.format("GET", "/v1/payment_intents?limit=100&customer="
      .. customers[counter % #customers + 1], hdrs)
  else
    local key = string.format("bench-mr-%d-%d-%d", seed, tid or 0, counter)
    return wrk.format("POST", "/v1/refunds",
      C.headers({ ["Content-Type"] = form, ["Idempotency-Key"] = key }),
      "amount=1&payment_intent=" .. big[counter % #big + 1])
  end
end
done = C.done
