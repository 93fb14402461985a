-- worker_beat: publish a worker's record (expires unless renewed) and hand it the commands sent
-- since its cursor. The per-queue lease extension is heartbeat.lua (same round trip, pipelined).
-- Global keys: P here is the namespace's global prefix "<namespace>:{<namespace>}:".
-- KEYS[1]  P .. 'workers' (zset: worker id -> last seen)
-- ARGV     common (Q unused), [6] worker id, [7] worker JSON, [8] record TTL ms,
--          [9] command cursor to use when the worker has none (exclusive stream id)
-- Returns  { now, number of paused queues, paused queue names..., then pairs: command id, JSON }
local t = now()
local id = ARGV[6]
redis.call('SET', P .. 'w:' .. id, ARGV[7], 'PX', ARGV[8])
redis.call('ZADD', P .. 'workers', t, id)
local curkey = P .. 'cur:' .. id
local cur = redis.call('GET', curkey) or ARGV[9]
local cmds = redis.call('XRANGE', P .. 'cmd', '(' .. cur, '+', 'COUNT', 100)
if #cmds > 0 then cur = cmds[#cmds][1] end
redis.call('SET', curkey, cur, 'PX', ARGV[8])
local paused = redis.call('SMEMBERS', P .. 'paused')
local out = {fmt(t), #paused}
for _, q in ipairs(paused) do out[#out + 1] = q end
for _, c in ipairs(cmds) do
  out[#out + 1] = c[1]
  out[#out + 1] = c[2][2]
end
return out
