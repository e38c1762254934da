/**
 * Lua scripts. Each runs atomically on the shard that holds the channel, which is what makes
 * offsets gapless and publish order equal offset order across nodes.
 */

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** Drops expired publications at the head of the stream (each entry carries its expiry `x`). */
const PRUNE = `
local function prune(stream, now)
  for _ = 1, 100 do
    local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
    if #head == 0 then return end
    local f = head[1][2]
    local x = nil
    for j = 1, #f, 2 do if f[j] == 'x' then x = tonumber(f[j + 1]) end end
    if x ~= nil and x > now then return end
    redis.call('XDEL', stream, head[1][1])
  end
end
`;

/** Reads the stream's epoch and top, creating the stream (fresh epoch, offset 0) when it is unknown or lost. */
const META = `
local function meta(stream, metaKey, newEpoch, metaTtl)
  local m = redis.call('HMGET', metaKey, 'e', 's')
  if m[1] then return m[1], tonumber(m[2]) or 0 end
  redis.call('DEL', stream)
  redis.call('HSET', metaKey, 'e', newEpoch, 's', 0)
  redis.call('PEXPIRE', metaKey, metaTtl)
  return newEpoch, 0
end
`;

/**
 * Append a batch of publications (and publish them). KEYS: stream, meta. ARGV: meta ttl ms, new
 * epoch (used when the stream is unknown), Redis channel ('' = do not publish), publish command
 * ('publish' or 'spublish'), history size, ttl ms, the published forms joined by newlines (or '=' when
 * they are the stored forms), the stored form of each publication joined by newlines (no stored form
 * holds a raw newline), how many there are. Returns { first offset, epoch }: the batch takes consecutive
 * offsets. The PUBLISH (one message for the batch: p<offset>:<epoch>:<form> for one publication,
 * B<first offset>:<epoch>:<form>, newline, <form>... for several) happens in the same atomic step as
 * the offset assignment, so every node receives a channel's publications in offset order.
 */
export const APPEND = `${NOW}${PRUNE}${META}
local stream, metaKey = KEYS[1], KEYS[2]
local metaTtl, size, ttl = tonumber(ARGV[1]), tonumber(ARGV[5]), tonumber(ARGV[6])
local rch, cmd = ARGV[3], ARGV[4]
local epoch, top = meta(stream, metaKey, ARGV[2], metaTtl)
local first = top + 1
-- the expiry as text once (Lua's own number format, as redis.call would convert it on each call)
local x = tostring(now + ttl)
-- the stored forms, one per line, taken apart here (one argument instead of one per publication)
local all, n = ARGV[8], tonumber(ARGV[9])
-- a publication that the trim below would drop at once is never written: it takes its offset only
local keepFrom = n - size + 1
local pos = 1
for i = 1, n do
  local nl = string.find(all, '\\n', pos, true)
  local stop = nl or (#all + 1)
  top = top + 1
  if i >= keepFrom then redis.call('XADD', stream, top .. '-0', 'd', string.sub(all, pos, stop - 1), 'x', x) end
  pos = stop + 1
end
redis.call('XTRIM', stream, 'MAXLEN', size)
redis.call('HSET', metaKey, 's', top)
redis.call('PEXPIRE', metaKey, metaTtl)
if redis.call('PTTL', stream) < ttl then redis.call('PEXPIRE', stream, ttl) end
prune(stream, now)
if rch ~= '' then
  -- '=': the published forms are the stored ones (no delivery targeting), sent once
  local body = ARGV[7]
  if body == '=' then body = all end
  if top == first then redis.call(cmd, rch, 'p' .. first .. ':' .. epoch .. ':' .. body)
  else redis.call(cmd, rch, 'B' .. first .. ':' .. epoch .. ':' .. body) end
end
return { first, epoch }
`;

/**
 * One checked publication: idempotent (a key), versioned (a version), or both. KEYS: stream, meta,
 * result key (same slot). ARGV: meta ttl ms, new epoch, Redis channel ('' = do not publish), publish
 * command, history size ('' = no history), history ttl ms, the published form (with history: the
 * JSON; without: the whole message), the stored JSON, result ttl ms, '1' when the key is to be
 * checked, the version ('0' = none; only with history), the version epoch.
 * - A key seen within its TTL returns { 'dup', result } and publishes nothing.
 * - A version not above the stream's last versioned publication (fields v, ve of the meta hash),
 *   with the same epoch or an empty one, returns { 'stale', '<top>:<epoch>' } and publishes nothing;
 *   else the version and its epoch replace the stored ones. They live with the meta hash: a new
 *   stream (lost, removed) starts without a version.
 * - Else the publication is appended and published as APPEND does (or only published), its result
 *   ('<offset>:<epoch>', '' without history) kept under the key when there is one: { 'new', result }.
 */
export const IDEMPOTENT = `${NOW}${PRUNE}${META}
local stream, metaKey, resultKey = KEYS[1], KEYS[2], KEYS[3]
local useKey = ARGV[10] == '1'
if useKey then
  local prev = redis.call('GET', resultKey)
  if prev then return { 'dup', prev } end
end
local rch, cmd, size = ARGV[3], ARGV[4], ARGV[5]
local result = ''
if size == '' then
  if rch ~= '' then redis.call(cmd, rch, ARGV[7]) end
else
  local metaTtl, ttl = tonumber(ARGV[1]), tonumber(ARGV[6])
  local epoch, top = meta(stream, metaKey, ARGV[2], metaTtl)
  local version, versionEpoch = ARGV[11], ARGV[12]
  if version ~= '0' then
    local last = redis.call('HMGET', metaKey, 'v', 've')
    if last[1] and (versionEpoch == '' or versionEpoch == last[2]) and tonumber(version) <= tonumber(last[1]) then
      return { 'stale', top .. ':' .. epoch }
    end
    redis.call('HSET', metaKey, 'v', version, 've', versionEpoch)
  end
  top = top + 1
  redis.call('XADD', stream, top .. '-0', 'd', ARGV[8], 'x', now + ttl)
  redis.call('XTRIM', stream, 'MAXLEN', size)
  redis.call('HSET', metaKey, 's', top)
  redis.call('PEXPIRE', metaKey, metaTtl)
  if redis.call('PTTL', stream) < ttl then redis.call('PEXPIRE', stream, ttl) end
  prune(stream, now)
  if rch ~= '' then redis.call(cmd, rch, 'p' .. top .. ':' .. epoch .. ':' .. ARGV[7]) end
  result = top .. ':' .. epoch
end
if useKey then redis.call('SET', resultKey, result, 'PX', tonumber(ARGV[9])) end
return { 'new', result }
`;

/**
 * Read. KEYS: stream, meta. ARGV: new epoch, meta ttl ms, since offset ('' = none), since epoch,
 * limit (-1 all), reverse ('1'). Returns { status, top, epoch, offset1, data1, offset2, data2, ... }
 * with status 'ok' or 'mismatch'.
 */
export const READ = `${NOW}${PRUNE}${META}
local stream, metaKey = KEYS[1], KEYS[2]
local epoch, top = meta(stream, metaKey, ARGV[1], tonumber(ARGV[2]))
local out = { 'ok', top, epoch }
if ARGV[4] ~= '' and ARGV[4] ~= epoch then out[1] = 'mismatch'; return out end
local limit = tonumber(ARGV[5])
if limit == 0 then return out end
prune(stream, now)
local reverse = ARGV[6] == '1'
local since = ARGV[3]
local cursor
if since ~= '' then
  if reverse and tonumber(since) <= 1 then return out end
  cursor = '(' .. since .. '-0'
else
  cursor = reverse and '+' or '-'
end
local got = 0
while true do
  local want = 500
  if limit > 0 then want = math.min(500, limit - got) end
  local batch
  if reverse then batch = redis.call('XREVRANGE', stream, cursor, '-', 'COUNT', want)
  else batch = redis.call('XRANGE', stream, cursor, '+', 'COUNT', want) end
  for i = 1, #batch do
    local id, f = batch[i][1], batch[i][2]
    local d, x = nil, nil
    for j = 1, #f, 2 do
      if f[j] == 'd' then d = f[j + 1] elseif f[j] == 'x' then x = tonumber(f[j + 1]) end
    end
    if d ~= nil and (x == nil or x > now) then
      out[#out + 1] = string.match(id, '^(%d+)')
      out[#out + 1] = d
      got = got + 1
    end
    cursor = '(' .. id
  end
  if #batch < want or (limit > 0 and got >= limit) then break end
end
return out
`;

/**
 * A new epoch for a stream that may have lost publications (its master failed over before they
 * reached the replica): KEYS stream, meta; ARGV the epoch the caller saw, a new epoch. Changes the
 * epoch only if it is still the one seen (so of several nodes only the first changes it) and
 * returns the current epoch ('' when the stream is unknown: the next write starts a new epoch anyway).
 */
export const ROTATE = `
local e = redis.call('HGET', KEYS[2], 'e')
if not e then return '' end
if e == ARGV[1] then
  redis.call('HSET', KEYS[2], 'e', ARGV[2])
  return ARGV[2]
end
return e
`;

/** Remove the stream: KEYS stream, meta. */
export const REMOVE = `redis.call('DEL', KEYS[1], KEYS[2]) return 1`;

/** Presence add: KEYS data, expire. ARGV client, info JSON, ttl ms. */
export const PRESENCE_ADD = `${NOW}
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
`;

const PRESENCE_CLEAN = `${NOW}
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  for i = 1, #expired, 1000 do
    redis.call('HDEL', KEYS[1], unpack(expired, i, math.min(i + 999, #expired)))
  end
end
`;

/** Presence get: KEYS data, expire. Drops expired entries, returns HGETALL. */
export const PRESENCE_GET = `${PRESENCE_CLEAN}
return redis.call('HGETALL', KEYS[1])
`;

/** Presence stats: KEYS data, expire. Returns { clients, users }. */
export const PRESENCE_STATS = `${PRESENCE_CLEAN}
local vals = redis.call('HVALS', KEYS[1])
local users, n = {}, 0
for i = 1, #vals do
  local ok, v = pcall(cjson.decode, vals[i])
  local u = ''
  if ok and type(v) == 'table' and type(v['user']) == 'string' then u = v['user'] end
  if not users[u] then users[u] = true; n = n + 1 end
end
return { #vals, n }
`;

/** Presence remove: KEYS data, expire. ARGV client. */
export const PRESENCE_REMOVE = `
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`;
