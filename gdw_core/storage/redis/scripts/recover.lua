-- recover: claimed or running tasks of one queue whose lease expired go to RECOVER_TO (retrying,
-- due now; the attempt stays counted and a LeaseExpired error is recorded) or, when the attempts
-- are spent (a poison task that keeps killing its workers), to failed. A task an operator asked to
-- cancel while it was leased ends cancelled: the request is honoured, never carried into a retry.
-- A record that cannot be read fails alone with its reason (or is dropped when it is missing).
-- A task whose destination index is not a sorted set (written by hand) is left as it is, lease
-- expired, for a later pass; the others are recovered, then the call raises naming the index
-- (the queue is reported failing until gdw repair moves the key aside).
-- KEYS[1]  P .. 'r'
-- ARGV     common, [6] limit
-- Returns  the recovered task ids
local t = now()
local limit = tonumber(ARGV[6])
local out = {}
local stuck, stuck_in = 0, nil
for _, status in ipairs({'claimed', 'running'}) do
  local expired = redis.call('ZRANGE', P .. INDEX[status], '-inf', lease_expired(t), 'BYSCORE', 'LIMIT', 0, limit)
  for _, id in ipairs(expired) do
    local key = P .. 't:' .. id
    local f = indexed(id, status, t, 'n', 'w', 'att', 'mx', 'creq')
    if f then
      local att, mx = int_field(f[4]), int_field(f[5])
      local worker = f[3] or ''
      local recovered = true
      if att == nil or mx == nil then
        local what = 'attempts'
        if att ~= nil then what = 'max_retries' end
        invalid(id, status, 'the ' .. what .. ' field is not an integer', t, f[2], worker, f[4])
      else
        -- cancelled (an operator asked), failed (poison: lifecycle.is_poison) or RECOVER_TO
        local to = f[6] == '1' and 'cancelled' or att >= mx + 1 and 'failed' or RECOVER_TO
        if not enterable(to) then  -- (before any write: a later pass, after gdw repair, recovers it)
          stuck, stuck_in, recovered = stuck + 1, to, false
        else
          add_error(key, cjson.encode({attempt = att, type = 'LeaseExpired',
            message = 'lease held by ' .. worker .. ' expired', traceback = '', at = t, worker = worker}))
          redis.call('HDEL', key, 'dl')
          local detail = DETAIL.LEASE_EXPIRED
          if to == RECOVER_TO then
            redis.call('HSET', key, 'run', fmt(t))
          else
            redis.call('HSET', key, 'fa', fmt(t))
            detail = to == 'cancelled' and DETAIL.CANCELLED_BY_OPERATOR or DETAIL.POISON
          end
          move(id, status, to, t, detail, f[2], worker, att)
        end
      end
      if recovered then out[#out + 1] = id end
    end
  end
end
if #out > 0 then wake() end
if stuck > 0 then
  if IX_KN > 0 then ix_flush() end
  error('WRONGTYPE gdw: ' .. stuck .. ' task(s) whose lease expired cannot move into the index '
    .. P .. INDEX[stuck_in] .. ' (not a sorted set; the others were recovered): run gdw repair --queue ' .. Q, 0)
end
return out
