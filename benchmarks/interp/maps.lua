-- 10^6 map inserts and lookups with string keys.
local function run(n)
  local M = {}
  for i = 0, n - 1 do M["k" .. tostring(i)] = i end
  local s = 0
  for i = 0, n - 1 do s = s + M["k" .. tostring(i)] end
  return s
end
print(run(1000000))
