-- POST /v1/refunds: small partial refunds (1 cent) spread over the large
-- succeeded intents in BENCH_IDS, so concurrent refunds rarely queue on one
-- intent's row lock.
local C = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local ids, counter, tid, seed = {}, 0, 0, 0
function setup(thread) tid = tid + 1; thread:set("tid", tid) end
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
