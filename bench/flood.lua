-- wrk script of bench/flood.sh: every request is a login for an existing
-- user, so every one that gets a hash slot costs a full bcrypt comparison.
-- Counts the answers by status.
--
-- Environment (set by flood.sh):
--   FLOOD_PASSWORD   the password sent; default "wrong-password"
--   FLOOD_ADDRESSES  0 (default): no X-Forwarded-For, one client. N > 0:
--                    each request names the next of N client addresses in
--                    X-Forwarded-For, in turn; half are IPv4 addresses in
--                    198.18.0.0/15 (RFC 2544's benchmarking range), half
--                    IPv6 addresses each in a /48 of its own in 2001:db8::/32.
--   FLOOD_ROUND      1, 2, ...: round r uses the r-th block of N addresses,
--                    so no address is reused from one round to the next.
-- Run it with one thread (-t1): the rotation is per thread.
local password = os.getenv("FLOOD_PASSWORD") or "wrong-password"
local addresses = tonumber(os.getenv("FLOOD_ADDRESSES") or "0") or 0
local round = tonumber(os.getenv("FLOOD_ROUND") or "1") or 1
local first = (round - 1) * addresses

wrk.method = "POST"
wrk.body = "username=bench&password=" .. password
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

-- address is the n-th flood address, from 0: even n are IPv4, odd n IPv6.
local function address(n)
	local k = math.floor(n / 2)
	if n % 2 == 0 then
		k = k + 1 -- not 198.18.0.0
		return string.format("198.%d.%d.%d", 18 + math.floor(k / 65536), math.floor(k / 256) % 256, k % 256)
	end
	return string.format("2001:db8:%x::1", k)
end

if addresses > 0 then
	local next = 0
	function request()
		wrk.headers["X-Forwarded-For"] = address(first + next)
		next = (next + 1) % addresses
		return wrk.format()
	end
end

local threads = {}

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	statuses = {}
end

function response(status, headers, body)
	statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
	local total = {}
	for _, t in ipairs(threads) do
		local s = t:get("statuses")
		for code, n in pairs(s) do
			total[code] = (total[code] or 0) + n
		end
	end
	local line = "statuses:"
	for code, n in pairs(total) do
		line = line .. " " .. code .. "=" .. n
	end
	print(line)
	if addresses > 0 then
		print(string.format("addresses: %d (%s to %s), at most %d requests each", addresses,
			address(first), address(first + addresses - 1), math.ceil(summary.requests / addresses)))
	end
end
