-- POST /v1/refunds: small partial refunds (1 cent) spread over the large
-- succeeded intents in BENCH_IDS, so concurrent refunds rarely queue on one
-- intent's row lock.
local C = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local ids, counter, seed, nthreads = {}, 0, 0, 0
-- tid is a global of the thread's Lua state, set by setup() in the main
-- state (a local here would shadow it and stay 0 in every thread).
function setup(thread) nthreads = nthreads + 1; thread:set("tid", nthreads) end
function init(args)
  ids = C.read_ids(os.getenv("BENCH_IDS"))
  seed = math.floor(os.time() % 1000000) * 1000 + math.random(0, 999)
  counter = math.random(0, #ids)
end
function request()
  counter = counter + 1
  local key = string.format("bench-re-%d-%d-%d", seed, tid or 0, counter)
  local body = "payment_intent=" .. ids[counter % #ids + 1] .. "&amount=1&metadata[k]=" .. key
  return wrk.format("POST", "/v1/refunds", C.headers({
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Idempotency-Key"] = key }), body)
end
done = C.done
