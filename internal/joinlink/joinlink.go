// Package joinlink holds the click handler of the macro table's Join Chat
// link. The plugin writes the handler into every table and hosts allow it
// in their Content-Security-Policy by its hash (macro.JoinLinkScriptSource);
// keeping the text in one place keeps the hash true to what is emitted.
package joinlink

import (
	"crypto/sha256"
	"encoding/base64"
)

// OnClick opens the room without browser chrome where the browser allows
// it. It is a fixed string, never built from data, so one hash covers every
// table; without script the link still opens the room in a new tab.
const OnClick = `window.open(this.href,this.target,'popup,width=960,height=720');return false;`

// ScriptSource is the CSP source expression ('sha256-…') that allows
// OnClick and no other script.
var ScriptSource = func() string {
	sum := sha256.Sum256([]byte(OnClick))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()
