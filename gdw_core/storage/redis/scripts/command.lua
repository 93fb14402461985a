-- command: send a control command (e.g. shutdown) to one worker or all, through a capped stream
-- that each worker reads from its own cursor (so a worker reconnecting at that moment gets it).
-- Global keys: P here is the namespace's global prefix.
-- KEYS[1]  P .. 'cmd'
-- ARGV     common (Q unused), [6] command JSON, [7] kind, [8] target worker id ('' = all)
-- Returns  the command's stream id
local id = redis.call('XADD', P .. 'cmd', 'MAXLEN', '~', 1000, '*', 'c', ARGV[6])
emit('command', nil, nil, nil, ARGV[8], nil, ARGV[7])
return id
