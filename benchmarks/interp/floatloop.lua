-- A float loop of 10^7 iterations (locals of a function).
local function run(n)
  local s = 0.0
  local x = 0.5
  for i = 0, n - 1 do
    s = s + x * 1.5
    x = x + 0.000001
  end
  return s
end
print(run(10000000))
