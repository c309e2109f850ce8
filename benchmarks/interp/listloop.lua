-- Nested loops over a list of 10^6 ints: build it, then sum it 5 times.
local function run(n)
  local L = {}
  for i = 0, n - 1 do L[#L + 1] = i end
  local s = 0
  for rep = 0, 4 do
    for _, x in ipairs(L) do s = s + x end
  end
  return s
end
print(run(1000000))
