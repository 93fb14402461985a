-- worker_beat: publish a worker's record and hand it the commands sent since its cursor. The
-- record is kept as history after the worker stops beating (it expires only after the history
-- window), and the history is bounded: records last seen before the window are dropped, and no
-- more than the history maximum of records that are not live are kept (oldest dropped first).
-- The per-queue lease extension is heartbeat.lua (same round trip, pipelined).
-- Global keys: P here is the namespace's global prefix "<namespace>:{<namespace>}:".
-- KEYS[1]  P .. 'workers' (zset: worker id -> last seen, Redis TIME)
-- ARGV     common (Q unused), [6] worker id, [7] worker JSON, [8] record TTL ms (the history
--          window), [9] command cursor to use when the worker has none (exclusive stream id),
--          [10] history seconds, [11] history max, [12] stale beats, [13] stale min seconds
-- Returns  { now, number of paused queues, paused queue names..., then pairs: command id, JSON }
local t = now()
local id = ARGV[6]
local wkey = P .. 'workers'
redis.call('SET', P .. 'w:' .. id, ARGV[7], 'PX', ARGV[8])
redis.call('ZADD', wkey, t, id)
-- the history window
local old = redis.call('ZRANGE', wkey, '-inf', t - tonumber(ARGV[10]), 'BYSCORE', 'LIMIT', 0, 100)
for _, w in ipairs(old) do
  redis.call('ZREM', wkey, w)
  redis.call('DEL', P .. 'w:' .. w, P .. 'cur:' .. w)
end
-- the history maximum (only looked at when there are more records than that)
local keep = tonumber(ARGV[11])
if redis.call('ZCARD', wkey) > keep then
  local rows = redis.call('ZRANGE', wkey, 0, -1, 'WITHSCORES')
  local gone = {}
  local history = 0
  for i = #rows - 1, 1, -2 do  -- newest first
    local w, seen = rows[i], tonumber(rows[i + 1])
    local raw = redis.pcall('GET', P .. 'w:' .. w)
    local live = false
    if type(raw) == 'string' then
      local ok, info = pcall(cjson.decode, raw)
      if ok and type(info) == 'table' and info.state ~= 'stopped' then
        local every = tonumber(info.beat_every) or 1
        live = t - seen <= math.max(tonumber(ARGV[12]) * every, tonumber(ARGV[13]))
      end
    end
    if not live then
      history = history + 1
      if history > keep then gone[#gone + 1] = w end
    end
  end
  for _, w in ipairs(gone) do
    redis.call('ZREM', wkey, w)
    redis.call('DEL', P .. 'w:' .. w, P .. 'cur:' .. w)
  end
end
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
