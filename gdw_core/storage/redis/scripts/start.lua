-- start: a worker's slots started claimed tasks of one queue (claimed -> running), one call per batch.
-- KEYS[1]  P .. 'r'
-- ARGV     common, then per mark 4 values: id, fencing token, started_ago seconds,
--          effective max_retries ('' = keep the record's)
-- Returns  one integer per mark: 1 started (or already running under that token), 0 stale /
--          not claimed / not a task hash
local t = now()
local out = {}
for i = 6, #ARGV, 4 do
  local id = ARGV[i]
  local key = P .. 't:' .. id
  local f = held(key, ARGV[i + 1])
  if f and f[1] == 'claimed' then
    local ago = math.max(0, tonumber(ARGV[i + 2]) or 0)
    local dl = num_field(redis.call('HGET', key, 'dl'), t)
    redis.call('HSET', key, 'sa', fmt(t - ago))
    if ARGV[i + 3] ~= '' then redis.call('HSET', key, 'mx', ARGV[i + 3]) end
    move(id, 'claimed', 'running', lease_score(dl or t), nil, f[3], f[4], f[5])
    out[#out + 1] = 1
  elseif f then
    out[#out + 1] = 1  -- already running under this token
  else
    out[#out + 1] = 0
  end
end
return out
