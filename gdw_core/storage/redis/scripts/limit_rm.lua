-- limit_rm: remove a named limit. Tasks that take it are unlimited by it from their next claim;
-- slots already held are given back as usual when their tasks leave the leased state.
-- KEYS[1]  LP .. 'def:' .. name
-- ARGV     common, [6] LP the limit key prefix, [7] name
-- Returns  1 removed, 0 there was no such limit
local lp, name = ARGV[6], ARGV[7]
local removed = redis.call('DEL', lp .. 'def:' .. name)
redis.call('SREM', lp .. 'names', name)
redis.call('DEL', lp .. 'g:' .. name, lp .. 'rv:' .. name)
return removed
