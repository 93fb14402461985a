-- purge: TTL retention: delete finished tasks (and their results) older than the TTLs.
-- KEYS[1]  P .. 'c'
-- ARGV     common, [6] completed TTL seconds, [7] failed / cancelled TTL seconds, [8] limit per index
-- Returns  how many tasks were deleted
local t = now()
local dropped = purge_results(t, tonumber(ARGV[8]))  -- per-task result_ttl (gdw_core.flow)
for _, spec in ipairs({{'c', ARGV[6]}, {'f', ARGV[7]}, {'x', ARGV[7]}}) do
  local idx = P .. spec[1]
  local old = redis.call('ZRANGE', idx, '-inf', t - tonumber(spec[2]), 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[8]))
  for _, id in ipairs(old) do
    redis.call('DEL', P .. 't:' .. id)
    redis.call('ZREM', idx, id)
    dropped = dropped + 1
  end
end
return dropped
