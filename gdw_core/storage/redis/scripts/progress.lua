-- progress: store a running task's progress value (no status change).
-- KEYS[1]  P .. 't:' .. id
-- ARGV     common, [6] id, [7] fencing token, [8] progress JSON
-- Returns  1 stored, 0 stale token / not leased / not a task hash
local id = ARGV[6]
local key = P .. 't:' .. id
local f = held(key, ARGV[7])
if not f then
  return 0
end
redis.call('HSET', key, 'prog', ARGV[8])
emit('progress', id, nil, f[3], f[4], f[5], nil)
return 1
