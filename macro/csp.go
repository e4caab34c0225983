package macro

import "github.com/pagechat/pagechat/internal/joinlink"

// JoinLinkScriptSource is the Content-Security-Policy source that allows
// the Join Chat link's handler in the plugin's macro table and no other
// script. A host whose pages carry a CSP adds it to script-src together
// with 'unsafe-hashes'; without it the link still works, but opens a normal
// tab instead of a popup.
var JoinLinkScriptSource = joinlink.ScriptSource
