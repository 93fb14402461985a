-- cancel_running: the worker stopped a running task an operator cancelled (claimed | running -> cancelled).
-- KEYS[1]  P .. 't:' .. id
-- ARGV     common, [6] id, [7] fencing token, [8] error JSON prefix (ends with '"at":'),
--          [9] error time ('' = now), [10] error type
-- Returns  1 recorded, 0 stale token / not leased / not a task hash
local t = now()
local id = ARGV[6]
local key = P .. 't:' .. id
local f = held(key, ARGV[7])
if not f then
  return 0
end
may_enter('cancelled')  -- before any write
add_error(key, error_json(ARGV[8], ARGV[9], t))
redis.call('HSET', key, 'fa', fmt(t))
redis.call('HDEL', key, 'dl')
move(id, f[1], 'cancelled', t, ARGV[10], f[3], f[4], f[5])
return 1
