#!/usr/bin/env bash
# Builds the plugin and starts the example wiki with it loaded. Open the URL
# it prints (http://127.0.0.1:8080 by default) and log in as alice, bob or
# carol with the password pagechat-demo. Data is kept in ./demo-data, so the
# wiki and its chat history survive restarts. Extra arguments go to the
# wiki, e.g. -addr 127.0.0.1:9090 or -transcript-delay 5s.
#
# XMPP=1 also starts a local Prosody (Debian's prosody package) with its
# own config and data under ./demo-data/prosody — never the system
# service — with the accounts alice, bob and carol@localhost (password
# pagechat-demo) on 127.0.0.1:5222 (plain login allowed on loopback), and
# the wiki's XMPP bridge on the domain chat.localhost. Log in to an XMPP
# client as alice@localhost, link the address on the wiki's XMPP page
# (the bot sends the code), then use a room's "Join with XMPP" link.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .bin
echo "building the plugin and the example wiki..."
go build -o .bin/pagechat-plugin ./plugin/cmd/pagechat-plugin
go build -o .bin/wikihost ./examples/wikihost
xmpp_args=()
if [ "${XMPP:-}" = 1 ]; then
	command -v prosody >/dev/null || { echo "XMPP=1 needs Prosody: apt-get install prosody" >&2; exit 1; }
	dir=$PWD/demo-data/prosody
	mkdir -p "$dir/data" "$dir/certs"
	secret_file=$PWD/demo-data/xmpp-secret
	[ -s "$secret_file" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret_file"
	cat >"$dir/prosody.cfg.lua" <<CFG
run_as_root = true -- a throwaway demo config; nothing here is the system's
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
certificates = "$dir/certs"
log = { info = "$dir/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { ${XMPP_C2S_PORT:-5222} }
component_ports = { ${XMPP_COMPONENT_PORT:-5347} }
component_interface = "127.0.0.1"
s2s_ports = { }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
http_ports = { }
https_ports = { }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
modules_enabled = { "roster", "saslauth", "disco", "ping", "posix" }
VirtualHost "localhost"
Component "chat.localhost"
  component_secret = "$(cat "$secret_file")"
CFG
	for u in alice bob carol; do
		prosodyctl --config "$dir/prosody.cfg.lua" register "$u" localhost pagechat-demo >/dev/null
	done
	prosody --config "$dir/prosody.cfg.lua" -F &
	prosody_pid=$!
	trap 'kill $prosody_pid 2>/dev/null; wait $prosody_pid 2>/dev/null' EXIT
	echo "Prosody on 127.0.0.1:${XMPP_C2S_PORT:-5222}: alice, bob, carol @localhost, password pagechat-demo"
	xmpp_args=(-xmpp-server "127.0.0.1:${XMPP_COMPONENT_PORT:-5347}" -xmpp-domain chat.localhost -xmpp-secret-file "$secret_file")
	sleep 1
	.bin/wikihost -plugin .bin/pagechat-plugin -data ./demo-data "${xmpp_args[@]}" "$@"
	exit
fi
exec .bin/wikihost -plugin .bin/pagechat-plugin -data ./demo-data "$@"
