-- retry_now: a scheduled, retrying or throttled task becomes pending now (a throttled one meets
-- its limits again at the next claim).
-- KEYS[1]  P .. 't:' .. id
-- ARGV     common, [6] id
-- Returns  1 moved, 0 the task is in another status (or its key is not a task hash), -1 no such task
local t = now()
local id = ARGV[6]
local key = P .. 't:' .. id
local f = fields(key, 'st', 'pri', 'n', 'w', 'att')
if not f then return 0 end
if not f[1] then return -1 end
if f[1] ~= 'scheduled' and f[1] ~= 'retrying' and f[1] ~= 'throttled' then return 0 end
may_enter('pending')  -- before any write
redis.call('HSET', key, 'run', fmt(t))
move(id, f[1], 'pending', pending_score(num_field(f[2], 0) or 0), DETAIL.RETRY_NOW, f[3], f[4], f[5])
wake()
return 1
