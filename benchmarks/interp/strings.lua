-- String building: 10^6 short strings, appended to a row that restarts at 1000 bytes.
local function run(n)
  local total = 0
  local row = ""
  for i = 0, n - 1 do
    local t = "item" .. tostring(i) .. ";"
    row = row .. t
    if #row > 1000 then total = total + #row; row = "" end
  end
  return total + #row
end
print(run(1000000))
