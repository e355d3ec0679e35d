-- Push back the expiry of a reservation still held (a stream still running), on Redis's clock.
-- KEYS: reservation record. ARGV: id, ttl, record_ttl.
-- Reply: 1 renewed | 0 unknown (settled, released, expired or flushed).
local id = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local expires_at = string.format('%.6f', redis_now() + tonumber(ARGV[2]))
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
for i = 1, n do
  local z = redis.call('HGET', KEYS[1], 'z' .. i)
  if redis.call('ZSCORE', z, id) then
    redis.call('ZADD', z, 'XX', expires_at, id)
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
