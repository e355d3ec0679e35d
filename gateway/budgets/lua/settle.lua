-- Replace a reservation by the actual spending, once; a second call finds no record.
-- The counters touched are read from the reservation record (standalone Redis).
-- KEYS: reservation record. ARGV: id, actual eur (micro), actual gco2e (micro-grams).
-- Reply: {} when unknown or already settled/released, else {t1, R1, ..., e1, ...}; -1 (and
--        epoch '') when a counter has vanished since the reservation.
local id = ARGV[1]
local actual = {eur = ARGV[2], gco2e = ARGV[3]}
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
local totals, seen = {}, {}
for i = 1, n do
  local f = redis.call('HMGET', KEYS[1], 'h' .. i, 'z' .. i, 'u' .. i, 'b' .. i, 'x' .. i)
  local h, z, amount, bucket, ttl = f[1], f[2], actual[f[3]], f[4], f[5]
  if redis.call('EXISTS', h) == 1 then
    unhold(h, z, id)
    if tonumber(amount) > 0 and tonumber(bucket) >= tonumber(redis.call('HGET', h, 'lo')) then
      redis.call('HINCRBY', h, bucket, amount)
      redis.call('HINCRBY', h, 't', amount)
    end
    redis.call('EXPIRE', h, ttl)
    redis.call('EXPIRE', z, ttl)
    local tr = redis.call('HMGET', h, 't', 'R')
    totals[2 * i - 1] = tonumber(tr[1])
    totals[2 * i] = tonumber(tr[2])
    seen[i] = redis.call('HGET', h, 'e') or ''
  else
    totals[2 * i - 1] = -1
    totals[2 * i] = -1
    seen[i] = ''
  end
end
redis.call('DEL', KEYS[1])
for i = 1, n do
  totals[#totals + 1] = seen[i]
end
return totals
