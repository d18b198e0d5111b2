-- wrk: POST /api/search with real catalogue images as the raw body, round
-- robin. IMAGES_FILE holds one image path per line.
local bodies = {}
local i = 0

init = function(args)
  for path in io.lines(os.getenv("IMAGES_FILE")) do
    local f = assert(io.open(path, "rb"))
    bodies[#bodies + 1] = f:read("*a")
    f:close()
  end
  i = math.random(#bodies)
end

request = function()
  i = (i % #bodies) + 1
  return wrk.format("POST", "/api/search?k=10", { ["Content-Type"] = "image/jpeg" }, bodies[i])
end

done = dofile(os.getenv("REPORT_LUA"))
