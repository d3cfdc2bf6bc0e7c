-- GET /health (no auth, touches the database's reachability).
local C = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
function request() return wrk.format("GET", "/health") end
done = C.done
