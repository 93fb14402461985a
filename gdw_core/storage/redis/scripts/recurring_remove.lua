-- recurring_remove: delete a recurring entry of one queue (ticks already enqueued stay).
-- KEYS[1]  P .. 'rec'
-- ARGV     common, [6] entry id
-- Returns  1 removed, 0 there was none
redis.call('ZREM', P .. 'recdue', ARGV[6])
return redis.call('HDEL', P .. 'rec', ARGV[6])
