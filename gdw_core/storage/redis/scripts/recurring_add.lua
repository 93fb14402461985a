-- recurring_add: store (or replace) a recurring entry of one queue.
-- KEYS[1]  P .. 'rec'
-- ARGV     common, [6] entry id, [7] entry JSON, [8] next run (epoch s)
-- Returns  1 created, 0 replaced
local created = redis.call('HSET', P .. 'rec', ARGV[6], ARGV[7])
redis.call('ZADD', P .. 'recdue', tonumber(ARGV[8]), ARGV[6])
wake()
return created
