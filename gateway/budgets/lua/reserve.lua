-- Reserve `need` on every budget, or on none of them.
-- KEYS: reservation record, then (counter hash, reservation zset) per budget.
-- ARGV: id, now (caller's clock, unused for expiry), ttl, record_ttl, n, then per budget:
--       limit, need, bucket, lower, counter_ttl, unit.
-- Expiry is on Redis's clock: a reservation expires `ttl` seconds after Redis's TIME.
-- Reply: {0, missing indexes...} | {1, t1, R1, ..., e1, ...} granted | {2, i, {t1, R1, ...}, flat hash i}
--        refused by budget i | {3, t1, R1, ..., e1, ...} already reserved under this id |
--        {4, ms} a counter was rebuilt an instant ago: replicas are re-applying their holds, retry
--        in `ms` milliseconds (when the latest such counter opens).
local id, record_ttl, n = ARGV[1], ARGV[4], tonumber(ARGV[5])
local missing = missing_counters(2, 2, n)
if #missing > 0 then
  return {0, unpack(missing)}
end
local now = redis_now()
local expires_at = now + tonumber(ARGV[3])
local opens = 0
for i = 1, n do
  local w = tonumber(redis.call('HGET', KEYS[2 * i], 'w'))
  if w and now < w and w > opens then
    opens = w
  end
end
if opens > 0 then
  return {4, math.ceil((opens - now) * 1000)}
end
local already = redis.call('EXISTS', KEYS[1]) == 1
local totals = {}
for i = 1, n do
  local h, z, a = KEYS[2 * i], KEYS[2 * i + 1], 5 + (i - 1) * 6
  purge(h, z, now)
  trim(h, tonumber(ARGV[a + 4]))
  local tr = redis.call('HMGET', h, 't', 'R')
  totals[2 * i - 1] = tonumber(tr[1])
  totals[2 * i] = tonumber(tr[2])
end
local function with_epochs(code)
  local reply = {code}
  for _, v in ipairs(totals) do
    reply[#reply + 1] = v
  end
  for _, e in ipairs(epochs(2, 2, n)) do
    reply[#reply + 1] = e
  end
  return reply
end
if already then
  return with_epochs(3)
end
for i = 1, n do
  local a = 5 + (i - 1) * 6
  if totals[2 * i - 1] + totals[2 * i] + tonumber(ARGV[a + 2]) > tonumber(ARGV[a + 1]) then
    return {2, i, totals, redis.call('HGETALL', KEYS[2 * i])}
  end
end
local record = {'n', n}
for i = 1, n do
  local h, z, a = KEYS[2 * i], KEYS[2 * i + 1], 5 + (i - 1) * 6
  local need = ARGV[a + 2]
  totals[2 * i] = totals[2 * i] + tonumber(need)
  redis.call('HSET', h, 'R', fmt(totals[2 * i]), 'r:' .. id, need)
  redis.call('ZADD', z, string.format('%.6f', expires_at), id)
  redis.call('EXPIRE', h, ARGV[a + 5])
  redis.call('EXPIRE', z, ARGV[a + 5])
  local fields = {'h' .. i, h, 'z' .. i, z, 'u' .. i, ARGV[a + 6], 'b' .. i, ARGV[a + 3], 'x' .. i, ARGV[a + 5]}
  for _, v in ipairs(fields) do
    record[#record + 1] = v
  end
end
redis.call('HSET', KEYS[1], unpack(record))
redis.call('EXPIRE', KEYS[1], record_ttl)
return with_epochs(1)
