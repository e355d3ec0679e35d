-- Give back a reservation's room without spending anything; idempotent.
-- KEYS: reservation record. ARGV: id.
local id = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
for i = 1, n do
  local f = redis.call('HMGET', KEYS[1], 'h' .. i, 'z' .. i)
  unhold(f[1], f[2], id)
end
redis.call('DEL', KEYS[1])
return 1
