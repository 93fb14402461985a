-- fire_recurring: enqueue one tick of a recurring entry (deterministic task id) and advance the
-- entry, only if its next run is still the tick the caller saw (compare-and-set): any number of
-- schedulers may race, each tick is enqueued exactly once.
-- KEYS[1]  P .. 'recdue'
-- ARGV     common, [6] entry id, [7] expected tick (as stored), [8] following run (epoch s),
--          [9] task id, [10] d (record JSON), [11] name, [12] priority, [13] max_retries
-- Returns  1 enqueued, 2 skipped (previous run still going, overlap not allowed),
--          0 someone else fired it / the entry is gone or malformed / the task id exists
local t = now()
local entry_id = ARGV[6]
local current = redis.call('ZSCORE', P .. 'recdue', entry_id)
local raw = redis.pcall('HGET', P .. 'rec', entry_id)
if type(raw) ~= 'string' or not current or fmt(tonumber(current)) ~= fmt(tonumber(ARGV[7])) or tonumber(current) > t then
  return 0
end
local decoded, entry = pcall(cjson.decode, raw)
if not decoded or type(entry) ~= 'table' then
  return 0  -- a malformed entry fires nothing (the caller logs it and removes its schedule)
end
local following = tonumber(ARGV[8])
entry.next_run = following
redis.call('ZADD', P .. 'recdue', following, entry_id)
local last = entry.last_task_id
if type(last) == 'string' and not entry.allow_overlap then
  local st = redis.pcall('HGET', P .. 't:' .. last, 'st')
  if type(st) == 'string' and not TERMINAL[st] then
    redis.call('HSET', P .. 'rec', entry_id, cjson.encode(entry))
    emit('skipped', last, nil, entry.name, nil, nil, 'recurring ' .. entry_id .. ': previous run still ' .. st)
    return 2
  end
end
local created = enqueue_one(t, ARGV[9], ARGV[10], ARGV[11], 'pending', ARGV[12], ARGV[13], t, '', 0, '')
if created == 1 then
  entry.last_task_id = ARGV[9]
  entry.last_run = tonumber(current)
end
redis.call('HSET', P .. 'rec', entry_id, cjson.encode(entry))
return created
