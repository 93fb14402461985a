-- start: a worker's slots started claimed tasks of one queue (claimed -> running), one call per batch.
-- KEYS[1]  P .. 'r'
-- ARGV     common, then per mark 4 values: id, fencing token, started_ago seconds,
--          effective max_retries ('' = keep the record's)
-- Returns  one integer per mark: 1 started (or already running under that token), 0 stale /
--          not claimed / not a task hash
local t = now()
local out = {}
local set = {'sa', '', 'mx', ''}  -- written with the status, in move's one HSET
local known = {set = set, nset = 2}
IX_LATER = true  -- (see ix_flush)
for i = 6, #ARGV, 4 do
  local id = ARGV[i]
  local key = P .. 't:' .. id
  -- (a key that is not a hash gives an error table: no status, so refused below)
  local f = redis.pcall('HMGET', key, 'st', 'tok', 'n', 'w', 'att', 'dl')
  if f[1] == 'claimed' and f[2] == ARGV[i + 1] then
    local ago = math.max(0, tonumber(ARGV[i + 2]) or 0)
    local dl = num_field(f[6], t) or t
    set[2], known.nset, known.key = fmt(t - ago), 2, key
    if ARGV[i + 3] ~= '' then set[4], known.nset = ARGV[i + 3], 4 end
    move(id, 'claimed', 'running', lease_score(dl), nil, f[3], f[4], f[5], known)
    out[#out + 1] = 1
  elseif f[1] == 'running' and f[2] == ARGV[i + 1] then
    out[#out + 1] = 1  -- already running under this token
  else
    out[#out + 1] = 0
  end
end
return out
