-- wrk script of bench/flood.sh: every request is a login with a wrong
-- password for an existing user, so every one that gets a hash slot costs a
-- full bcrypt comparison. Counts the answers by status.
wrk.method = "POST"
wrk.body = "username=bench&password=wrong-password"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

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
end
