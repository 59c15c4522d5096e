"""The Redis store's two Lua scripts: each runs atomically on the server in one round trip.

They mirror ``MemoryStore._try`` / ``MemoryStore.settle`` rule for rule (the unit tests run the
same behaviour against both stores). Times are the caller's clock, passed in. Learnt limits
are stored as JSON (``Bucket.as_list`` positions: level, t0, rate, cap (-1 = none), expires,
need, label); Redis' Lua has ``cjson`` built in.
https://redis.io/docs/latest/develop/interact/programmability/lua-api/
"""

from __future__ import annotations

#: KEYS: [1] the session's sticky key, then per candidate: state hash, leases (zset scored by
#: expiry), rpm starts (zset), tpm reservations (zset of "lease:tokens").
#: The sticky key holds "name<TAB>expiry" (expiry on the caller's clock, like every time here).
#: ARGV: now, lease id, est tokens, lease ttl, least busy (0/1), session (0/1), sticky ttl,
#: n, then per candidate: name, fingerprint, max concurrency, rpm, tpm, pace seconds (0 = none).
#: Returns {'ok', name} or {'no', name, verdict, retry_at, detail, …}.
ACQUIRE = r"""
local now = tonumber(ARGV[1])
local lease = ARGV[2]
local est = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local least_busy = ARGV[5] == '1'
local has_session = ARGV[6] == '1'
local sticky_ttl = tonumber(ARGV[7])
local n = tonumber(ARGV[8])

local function f6(x) return string.format('%.6f', x) end
local function kname(i, j) return KEYS[1 + (i - 1) * 4 + j] end
local function arg(i, j) return ARGV[8 + (i - 1) * 6 + j] end

local function left_of(b)
  local left = b[1] + b[3] * math.max(0, now - b[2])
  if b[4] >= 0 and left > b[4] then left = b[4] end
  return left
end

-- In-flight leases of candidate i, lapsed ones trimmed: counted once per script run (the
-- least-busy ordering and the key's own check both need it).
local counted = {}
local function in_flight(i)
  local c = counted[i]
  if c == nil then
    redis.call('ZREMRANGEBYSCORE', kname(i, 2), '-inf', now)
    c = redis.call('ZCARD', kname(i, 2))
    counted[i] = c
  end
  return c
end

local function try(i)
  local h, leases, starts, toks = kname(i, 1), kname(i, 2), kname(i, 3), kname(i, 4)
  local fp = arg(i, 2)
  local maxc, rpm = tonumber(arg(i, 3)), tonumber(arg(i, 4))
  local tpm, pace = tonumber(arg(i, 5)), tonumber(arg(i, 6))
  local st = redis.call('HMGET', h, 'fp', 'disabled', 'disabled_reason', 'cooling_until',
    'cooldown_reason', 'buckets', 'last_start', 'tpm_sum')
  if st[1] ~= fp then
    if st[1] then
      redis.call('HSET', h, 'disabled', '0', 'disabled_reason', '', 'cooling_until', '0',
        'cooldown_reason', '', 'streak', '0', 'buckets', '{}')
      st[2], st[4], st[6] = '0', '0', '{}'
    end
    redis.call('HSET', h, 'fp', fp)
  end
  if st[2] == '1' then return {'disabled', '', st[3] or ''} end
  local cu = tonumber(st[4]) or 0
  if cu > now then return {'cooling', st[4], st[5] or ''} end
  if maxc > 0 then
    local c = in_flight(i)
    if c >= maxc then return {'busy', '', c .. '/' .. maxc .. ' in flight'} end
  elseif counted[i] == nil then
    redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
  end
  if rpm > 0 then
    redis.call('ZREMRANGEBYSCORE', starts, '-inf', now - 60)
    local c = redis.call('ZCARD', starts)
    if c >= rpm then
      local first = redis.call('ZRANGE', starts, 0, 0, 'WITHSCORES')
      return {'rpm', f6(tonumber(first[2]) + 60),
        c .. '/' .. rpm .. ' requests in the last minute'}
    end
  end
  local used = 0
  if tpm > 0 then
    used = tonumber(st[8]) or 0
    local old = redis.call('ZRANGEBYSCORE', toks, '-inf', now - 60)
    for _, m in ipairs(old) do
      used = used - (tonumber(string.match(m, ':([^:]+)$')) or 0)
    end
    if #old > 0 then redis.call('ZREMRANGEBYSCORE', toks, '-inf', now - 60) end
    local count = redis.call('ZCARD', toks)
    if count == 0 or used < 0 then used = 0 end
    if #old > 0 then redis.call('HSET', h, 'tpm_sum', f6(used)) end
    if count > 0 and used + est > tpm then
      local first = redis.call('ZRANGE', toks, 0, 0, 'WITHSCORES')
      return {'tpm', f6(tonumber(first[2]) + 60),
        string.format('%.0f+%d/%d tokens in the last minute', used, est, tpm)}
    end
  end
  local bk = nil
  if st[6] and st[6] ~= '' and st[6] ~= '{}' then
    bk = cjson.decode(st[6])
    local dirty, blocked, detail = false, nil, ''
    for fid, b in pairs(bk) do
      if now >= b[5] then
        bk[fid] = nil
        dirty = true
      else
        local left = left_of(b)
        local want = 1
        if b[6] == 'tok' then
          want = math.max(1, est)
          if b[4] >= 0 and want > b[4] then want = b[4] end
        end
        if left < want then
          local at = b[5]
          if b[3] > 0 then at = math.min(b[5], b[2] + (want - b[1]) / b[3]) end
          if blocked == nil or at > blocked then
            blocked = at
            detail = string.format('provider %s limit: %.0f left', b[7] or 'requests',
              math.max(0, left))
          end
        end
      end
    end
    if dirty then redis.call('HSET', h, 'buckets', cjson.encode(bk)) end
    if blocked then return {'limit', f6(blocked), detail} end
  end
  if pace > 0 then
    local last = tonumber(st[7])
    if last and now - last < pace then
      return {'pace', f6(last + pace), math.floor(pace * 1000 + 0.5) .. ' ms pacing'}
    end
  end
  -- every check passed: take the lease
  redis.call('ZADD', leases, now + ttl, lease)
  redis.call('EXPIRE', leases, math.ceil(ttl * 2) + 60)
  if rpm > 0 then
    redis.call('ZADD', starts, now, lease)
    redis.call('EXPIRE', starts, 120)
  end
  if tpm > 0 then
    redis.call('ZADD', toks, now, lease .. ':' .. est)
    redis.call('EXPIRE', toks, 120)
    redis.call('HSET', h, 'tpm_sum', f6(used + est))
  end
  if bk and next(bk) ~= nil then
    for _, b in pairs(bk) do
      local taken = 0
      if b[6] == 'req' then taken = 1 elseif b[6] == 'tok' then taken = est end
      b[1] = left_of(b) - taken
      b[2] = now
      if b[3] > 0 and b[4] >= 0 then b[5] = now + (b[4] - b[1]) / b[3] end
    end
    redis.call('HSET', h, 'buckets', cjson.encode(bk))
  end
  redis.call('HSET', h, 'last_start', f6(now))
  return nil
end

local order = {}
for i = 1, n do order[i] = i end
local stuck = nil
if has_session then
  local v = redis.call('GET', KEYS[1])
  local name, exp = nil, nil
  if v then name, exp = string.match(v, '^(.*)\t([^\t]*)$') end
  if name and (tonumber(exp) or 0) > now then
    stuck = name
    for pos = 1, n do
      if arg(order[pos], 1) == name then
        table.insert(order, 1, table.remove(order, pos))
        break
      end
    end
  end
end
if least_busy and n > 1 then
  local head = 0
  if stuck and arg(order[1], 1) == stuck then head = 1 end
  local rest = {}
  for pos = head + 1, n do
    local i = order[pos]
    rest[#rest + 1] = {in_flight(i), pos, i}
  end
  table.sort(rest, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  for p, e in ipairs(rest) do order[head + p] = e[3] end
end

local out = {'no'}
local stuck_verdict = nil
for pos = 1, n do
  local i = order[pos]
  local name = arg(i, 1)
  local r = try(i)
  if r == nil then
    if has_session and (stuck == nil or stuck == name
        or (stuck_verdict ~= 'busy' and stuck_verdict ~= 'pace')) then
      redis.call('SET', KEYS[1], name .. '\t' .. f6(now + sticky_ttl),
        'EX', math.ceil(sticky_ttl) + 1)
    end
    return {'ok', name}
  end
  if name == stuck then stuck_verdict = r[1] end
  out[#out + 1] = name
  out[#out + 1] = r[1]
  out[#out + 1] = r[2]
  out[#out + 1] = r[3]
end
return out
"""

#: KEYS: state hash, leases, rpm starts, tpm reservations, the backend's route set, the
#: route's hash. ARGV: see ``RedisStore.settle``. Publishes the backend on the freed channel.
SETTLE = r"""
local h, leases, starts, toks, rset, rhash = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local lease, now, est = ARGV[1], tonumber(ARGV[2]), ARGV[4]
local freed = redis.call('ZREM', leases, lease)
local member = lease .. ':' .. est
local score = redis.call('ZSCORE', toks, member)
if ARGV[3] == '0' then
  redis.call('ZREM', starts, lease)
  if score then
    redis.call('ZREM', toks, member)
    redis.call('HINCRBYFLOAT', h, 'tpm_sum', -tonumber(est))
  end
  if freed == 1 then redis.call('PUBLISH', ARGV[23], ARGV[24]) end
  return 1
end
if score and ARGV[5] ~= '' then
  redis.call('ZREM', toks, member)
  redis.call('ZADD', toks, score, lease .. ':' .. ARGV[5])
  redis.call('HINCRBYFLOAT', h, 'tpm_sum', tonumber(ARGV[5]) - tonumber(est))
end
redis.call('HINCRBY', h, 'requests', 1)
if ARGV[7] == '1' then redis.call('HINCRBY', h, 'errors', 1) end
redis.call('HSET', h, 'last_status', ARGV[6])
if ARGV[8] ~= '0' then redis.call('HINCRBY', h, 'input_tokens', ARGV[8]) end
if ARGV[9] ~= '0' then redis.call('HINCRBY', h, 'output_tokens', ARGV[9]) end
if ARGV[10] ~= '0' then redis.call('HINCRBY', h, 'cached_tokens', ARGV[10]) end
redis.call('HINCRBYFLOAT', h, 'lat_sum', ARGV[11])
redis.call('HINCRBY', h, 'lat_count', 1)
redis.call('HINCRBY', h, 'lat_' .. ARGV[12], 1)
if ARGV[13] ~= '' then
  redis.call('SADD', rset, ARGV[13])
  redis.call('HINCRBY', rhash, 'requests', 1)
  if ARGV[7] == '1' then redis.call('HINCRBY', rhash, 'errors', 1) end
  if ARGV[8] ~= '0' then redis.call('HINCRBY', rhash, 'input_tokens', ARGV[8]) end
  if ARGV[9] ~= '0' then redis.call('HINCRBY', rhash, 'output_tokens', ARGV[9]) end
  if ARGV[10] ~= '0' then redis.call('HINCRBY', rhash, 'cached_tokens', ARGV[10]) end
end
if ARGV[22] ~= '' then
  local cur = redis.call('HGET', h, 'buckets')
  local bk = {}
  if cur and cur ~= '' and cur ~= '{}' then bk = cjson.decode(cur) end
  for fid, b in pairs(cjson.decode(ARGV[22])) do
    if b == cjson.null then bk[fid] = nil else bk[fid] = b end
  end
  if next(bk) == nil then
    redis.call('HSET', h, 'buckets', '{}')
  else
    redis.call('HSET', h, 'buckets', cjson.encode(bk))
  end
end
if ARGV[19] ~= '' then redis.call('HSET', h, 'disabled', '1', 'disabled_reason', ARGV[19]) end
local streak = tonumber(redis.call('HGET', h, 'streak')) or 0
if ARGV[21] == '1' then
  streak = streak + 1
  redis.call('HSET', h, 'streak', streak)
elseif ARGV[20] == '1' and streak ~= 0 then
  streak = 0
  redis.call('HSET', h, 'streak', 0)
end
local untl = tonumber(ARGV[14])
if ARGV[16] ~= '' then
  local wait = math.min(tonumber(ARGV[17]), tonumber(ARGV[16]) * 2 ^ math.max(0, streak - 1))
  wait = wait * tonumber(ARGV[18])
  if untl == nil or now + wait > untl then untl = now + wait end
end
if untl then
  local cu = tonumber(redis.call('HGET', h, 'cooling_until')) or 0
  if untl > cu then
    redis.call('HSET', h, 'cooling_until', string.format('%.6f', untl), 'cooldown_reason', ARGV[15])
  end
end
if freed == 1 then redis.call('PUBLISH', ARGV[23], ARGV[24]) end
return 1
"""
