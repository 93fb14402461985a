-- worker_stop: a worker said goodbye. Its record is kept (as history) with state "stopped",
-- last seen now, nothing busy, claimed or held; its command cursor is dropped.
-- Global keys: P here is the namespace's global prefix "<namespace>:{<namespace>}:".
-- KEYS[1]  P .. 'workers'
-- ARGV     common (Q unused), [6] worker id, [7] record TTL ms (the history window)
-- Returns  1 marked stopped, 0 there was no readable record (nothing changed)
local t = now()
local id = ARGV[6]
local key = P .. 'w:' .. id
redis.call('DEL', P .. 'cur:' .. id)
local raw = redis.pcall('GET', key)
if type(raw) ~= 'string' then return 0 end
local ok, info = pcall(cjson.decode, raw)
if not ok or type(info) ~= 'table' then return 0 end
info.state = 'stopped'
info.last_seen = t
info.busy = 0
info.claimed = 0
info.held = nil
redis.call('SET', key, cjson.encode(info), 'PX', ARGV[7])
redis.call('ZADD', P .. 'workers', t, id)
return 1
