-- wrk: GET /api/products/{id}/similar over many product ids, round robin.
-- IDS_FILE holds one id per line.
local ids = {}
local i = 0

init = function(args)
  for line in io.lines(os.getenv("IDS_FILE")) do
    ids[#ids + 1] = line
  end
  i = math.random(#ids)
end

request = function()
  i = (i % #ids) + 1
  return wrk.format("GET", "/api/products/" .. ids[i] .. "/similar?k=10")
end

done = dofile(os.getenv("REPORT_LUA"))
