-- complete: record successful outcomes (running -> completed) of one queue's tasks.
-- KEYS[1]  P .. 'c'
-- ARGV     common, then per ack 3 values: id, fencing token, result JSON
-- Returns  one integer per ack: 1 recorded, 0 refused (stale token, or not running)
local t = now()
local out = {}
for i = 6, #ARGV, 3 do
  local id = ARGV[i]
  local key = P .. 't:' .. id
  local f = held(key, ARGV[i + 1])
  if f then
    redis.call('HSET', key, 'res', ARGV[i + 2], 'fa', fmt(t))
    redis.call('HDEL', key, 'dl')
    move(id, 'running', 'completed', t, nil, f[3], f[4], f[5])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
