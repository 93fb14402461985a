-- complete: record successful outcomes (claimed | running -> completed) of one queue's tasks.
-- A task still claimed (its start mark was never sent: it finished first) gets its start time
-- from the ack (now - started_ago) and one event claimed -> completed.
-- KEYS[1]  P .. 'c'
-- ARGV     common, then per ack 4 values: id, fencing token, result JSON, started_ago seconds
-- Returns  one integer per ack: 1 recorded, 0 refused (stale token, not leased, not a task hash)
-- Cost: one HMGET (status, token and what the hooks need) and one HSET per task (the lease
-- deadline `dl` is left: it means nothing outside a leased status); the
-- completed index is trimmed once per call (RETAIN_LATER).
local t = now()
local ts = fmt(t)
local out = {}
RETAIN_LATER = {}
IX_LATER = true  -- (see ix_flush)
for i = 6, #ARGV, 4 do
  local id = ARGV[i]
  local key = P .. 't:' .. id
  local f, known = held_hooked(key, ARGV[i + 1])
  if f then
    local set = known.set
    set[1], set[2], set[3], set[4], known.nset = 'res', ARGV[i + 2], 'fa', ts, 4
    if f[1] == 'claimed' then
      set[5], set[6], known.nset = 'sa', fmt(t - math.max(0, tonumber(ARGV[i + 3]) or 0)), 6
    end
    move(id, f[1], 'completed', t, nil, f[3], f[4], f[5], known)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
retain_pending()
return out
