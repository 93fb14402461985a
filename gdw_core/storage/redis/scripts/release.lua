-- release: a worker gives a leased task back (shutdown): running -> retrying, due now.
-- KEYS[1]  P .. 't:' .. id
-- ARGV     common, [6] id, [7] fencing token, [8] error JSON prefix ('' = the attempt never
--          started: it is not counted), [9] error time ('' = now)
-- Returns  1 released, 0 stale token / not running
local t = now()
local id = ARGV[6]
local key = P .. 't:' .. id
local f = held(key, ARGV[7])
if not f then
  return 0
end
local att = f[5]
if ARGV[8] == '' then
  att = redis.call('HINCRBY', key, 'att', -1)
else
  add_error(key, error_json(ARGV[8], ARGV[9], t))
end
redis.call('HSET', key, 'run', fmt(t))
redis.call('HDEL', key, 'dl')
move(id, 'running', 'retrying', t, 'released', f[3], f[4], att)
wake()
return 1
