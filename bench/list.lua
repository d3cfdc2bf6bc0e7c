-- GET /v1/payment_intents?customer=...&limit=100, cycling through the
-- customers in BENCH_IDS (each has at least 100 intents).
local C = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local ids, i, hdrs = {}, 0, nil
function init(args)
  ids = C.read_ids(os.getenv("BENCH_IDS"))
  hdrs = C.headers()
  i = math.random(0, #ids)
end
function request()
  i = i + 1
  return wrk.format("GET", "/v1/payment_intents?limit=100&customer=" .. ids[i % #ids + 1], hdrs)
end
done = C.done
