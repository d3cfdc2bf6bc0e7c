-- GET /v1/payment_intents/{id}, cycling through the ids in BENCH_IDS.
local C = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local ids, i, hdrs = {}, 0, nil
function init(args)
  ids = C.read_ids(os.getenv("BENCH_IDS"))
  hdrs = C.headers()
  i = math.random(0, #ids)
end
function request()
  i = i + 1
  return wrk.format("GET", "/v1/payment_intents/" .. ids[i % #ids + 1], hdrs)
end
done = C.done
