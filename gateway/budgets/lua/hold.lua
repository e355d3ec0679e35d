-- Re-apply a reservation a replica still holds to counters rebuilt since (Redis flushed or
-- restarted), without checking the limit: the request was admitted and is running.
-- Idempotent by reservation id: a counter that already holds it is left alone.
-- KEYS: reservation record, then (counter hash, reservation zset) per budget.
-- ARGV: id, ttl, record_ttl, n, then per budget: need, bucket, counter_ttl, unit.
-- Reply: the epoch of each counter ('' when absent: it will be rebuilt, and held again).
local id, ttl, record_ttl, n = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local expires_at = string.format('%.6f', redis_now() + ttl)
local record = {'n', n}
for i = 1, n do
  local h, z, a = KEYS[2 * i], KEYS[2 * i + 1], 4 + (i - 1) * 4
  local need = ARGV[a + 1]
  if redis.call('EXISTS', h) == 1 and redis.call('HEXISTS', h, 'r:' .. id) == 0 then
    redis.call('HINCRBY', h, 'R', need)
    redis.call('HSET', h, 'r:' .. id, need)
    redis.call('ZADD', z, expires_at, id)
    redis.call('EXPIRE', z, ARGV[a + 3])
  end
  local fields = {'h' .. i, h, 'z' .. i, z, 'u' .. i, ARGV[a + 4], 'b' .. i, ARGV[a + 2], 'x' .. i, ARGV[a + 3]}
  for _, v in ipairs(fields) do
    record[#record + 1] = v
  end
end
redis.call('HSET', KEYS[1], unpack(record))
redis.call('EXPIRE', KEYS[1], record_ttl)
return epochs(2, 2, n)
