-- heartbeat: extend the leases (claimed or running) a worker holds in one queue, in one step.
-- KEYS[1]  P .. 'r'
-- ARGV     common, [6] lease seconds, then pairs: task id, fencing token
-- Returns  { paused (1|0), number of lost ids, lost ids..., ids with a cancel request... }
--          lost = no longer leased under this token (recovered, maybe re-claimed), or its key
--          is not a task hash
local t = now()
local deadline = t + tonumber(ARGV[6])
local dls, lease = fmt(deadline), lease_score(deadline)
local lost, cancel = {}, {}
for i = 7, #ARGV, 2 do
  local id = ARGV[i]
  local key = P .. 't:' .. id
  local f = fields(key, 'st', 'tok', 'creq')
  if f and LEASED[f[1]] and f[2] == ARGV[i + 1] then
    redis.call('HSET', key, 'dl', dls)
    redis.call('ZADD', P .. INDEX[f[1]], lease, id)
    if f[3] == '1' then cancel[#cancel + 1] = id end
  else
    lost[#lost + 1] = id
  end
end
local out = {redis.call('EXISTS', P .. 'paused'), #lost}
for _, id in ipairs(lost) do out[#out + 1] = id end
for _, id in ipairs(cancel) do out[#out + 1] = id end
return out
