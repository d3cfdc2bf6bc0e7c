-- The limit probe's own script (../shared/limit-probe/post.lua) plus the
-- done() hook that prints the line bench/run parses. post.lua seeds its keys
-- with math.random, unseeded and so equal in every wrk thread; with more
-- than one thread (-t2) half its keys would collide (409). Its init() is
-- wrapped so that the thread number (set by its setup()) is the "random"
-- part of the seed.
local C = dofile(os.getenv("BENCH_DIR") .. "/common.lua")
dofile(os.getenv("BENCH_PROBE_LUA"))
local probe_init = init
function init(args)
  local random = math.random
  math.random = function() return tid or 0 end
  probe_init(args)
  math.random = random
end
done = C.done
