-- mod_pagechat_multicast: a XEP-0033 (Extended Stanza Addressing) multicast
-- service on a Prosody virtual host, for the pagechat XMPP bridge.
--
-- The bridge sends a room's message once, to this host's domain, with the
-- occupants as bcc addresses; this module makes one copy per address and
-- routes each the usual way. Prosody then parses one stanza from the
-- component instead of one per occupant.
--
-- Options (on the VirtualHost or globally):
--   pagechat_multicast_senders = { "chat.example.org" }
--       domains whose stanzas may be multicast; nobody else may, so the
--       service cannot be used to amplify a user's traffic. Empty by default.
--   pagechat_multicast_max_addresses = 1000
--       the most addresses one stanza may carry.
--
-- The <addresses/> element is removed from every copy, not only the bcc
-- ones: the bridge addresses everyone bcc, and recipients need no list.

local st = require "util.stanza";
local jid = require "util.jid";

local core_post_stanza = prosody.core_post_stanza;

local xmlns_address = "http://jabber.org/protocol/address";

local senders = module:get_option_set("pagechat_multicast_senders", {});
local max_addresses = module:get_option_number("pagechat_multicast_max_addresses", 1000);

module:add_feature(xmlns_address);

-- The address types that ask for a delivery; the others (replyto, noreply,
-- ofrom, ...) only inform the recipient.
local delivered_types = { to = true, cc = true, bcc = true };

-- A room's occupants are addressed again in each of its fan-outs, and
-- stringprep is a good part of a copy's cost here: prepared addresses are
-- kept, up to prep_cache_max of them (then the cache starts over).
local prep_cache, prep_cached, prep_cache_max = {}, 0, 10000;
local function prep(address)
	local prepped = prep_cache[address];
	if prepped == nil then
		prepped = jid.prep(address) or false;
		if prep_cached >= prep_cache_max then
			prep_cache, prep_cached = {}, 0;
		end
		prep_cache[address], prep_cached = prepped, prep_cached + 1;
	end
	return prepped or nil;
end

local function handle(event)
	local origin, stanza = event.origin, event.stanza;
	local addresses = stanza:get_child("addresses", xmlns_address);
	if not addresses then
		return; -- an ordinary stanza to the host: not ours
	end
	if stanza.attr.type == "error" then
		return true; -- never answer an error, and never multiply one
	end
	local from_host = jid.host(stanza.attr.from);
	if not from_host or not senders:contains(from_host) then
		module:log("debug", "Refused a multicast from %s: not in pagechat_multicast_senders", stanza.attr.from);
		origin.send(st.error_reply(stanza, "auth", "forbidden", "This server multicasts only for its chat bridges"));
		return true;
	end

	local recipients, seen = {}, {};
	for address in addresses:childtags("address", xmlns_address) do
		local attr = address.attr;
		if delivered_types[attr.type] and attr.delivered ~= "true" and attr.jid then
			local to = prep(attr.jid);
			if not to then
				origin.send(st.error_reply(stanza, "modify", "jid-malformed", "An address is not a valid JID"));
				return true;
			end
			if not seen[to] then
				seen[to] = true;
				recipients[#recipients + 1] = to;
			end
		end
	end
	if #recipients > max_addresses then
		origin.send(st.error_reply(stanza, "modify", "not-acceptable",
			("Too many addresses (at most %d per stanza)"):format(max_addresses)));
		return true;
	end

	-- The stanza itself, without its address list, is routed once per
	-- recipient with only its to changed, as Prosody's MUC routes a room
	-- message to each occupant (room_mt:route_to_occupant): a handler that
	-- keeps a routed stanza clones it. A clone per copy cost half as much as
	-- serialising it.
	stanza:remove_children("addresses", xmlns_address);
	for i = 1, #recipients do
		stanza.attr.to = recipients[i];
		-- Routed as if the sender had sent it to the recipient itself, so
		-- bounces go back to the sender, in the order the copies were made.
		core_post_stanza(origin, stanza);
	end
	return true;
end

-- Before the host's own handlers (mod_presence answers presence to the
-- host, and an unhandled message would bounce).
module:hook("message/host", handle, 10);
module:hook("presence/host", handle, 10);
