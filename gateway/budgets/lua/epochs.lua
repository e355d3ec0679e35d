-- The epoch and rebuild time of each counter hash in KEYS, read by a replica's watcher
-- in one call however many counters it holds ('' where a counter or field is absent).
local out = {}
for i, key in ipairs(KEYS) do
  local pair = redis.call('HMGET', key, 'e', 'rt')
  out[i] = {pair[1] or '', pair[2] or ''}
end
return out
