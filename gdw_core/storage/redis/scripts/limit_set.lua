-- limit_set: create or replace a named limit's definition (gdw_core.flow.LimitSpec.to_fields).
-- KEYS[1]  LP .. 'def:' .. name
-- ARGV     common, [6] LP the limit key prefix, [7] name, [8] n starts per [9] per seconds
--          (0 0 = no rate), [10] burst, [11] concurrency (0 = none), [12] the rate as written
-- Returns  1 created, 0 replaced
local lp, name = ARGV[6], ARGV[7]
local key = lp .. 'def:' .. name
local existed = redis.call('EXISTS', key)
redis.call('DEL', key)
redis.call('HSET', key, 'n', ARGV[8], 'per', ARGV[9], 'b', ARGV[10], 'c', ARGV[11], 'r', ARGV[12])
redis.call('SADD', lp .. 'names', name)
-- a new rate starts fresh; throttled tasks meet the new definition at their next try
redis.call('DEL', lp .. 'rv:' .. name)
return 1 - existed
