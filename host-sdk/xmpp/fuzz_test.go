package xmpp

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"mellium.im/xmpp/jid"
)

type noUsers struct{}

func (noUsers) LinkedUser(context.Context, string) (string, bool, error) { return "", false, nil }
func (noUsers) ConfirmLink(context.Context, string, string) (bool, error) {
	return false, nil
}

// fuzzComponent is a component whose rooms cannot start (it is already
// stopping), so dispatch exercises parsing, routing and the answers that
// need no plugin.
func fuzzComponent() *Component {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := jid.MustParse("chat.example")
	return &Component{
		cfg:    Config{Users: noUsers{}, LinkHelp: "link first", BotName: "bot"},
		domain: d,
		bot:    jid.MustParse("bot@chat.example"),
		log:    hclog.NewNullLogger(),
		out:    make(chan *elem, 64),
		ctx:    ctx,
		cancel: cancel,
		rooms:  make(map[string]*room),

		botSlots: make(chan struct{}, botWorkers),
	}
}

// FuzzStanza feeds arbitrary stanzas through parsing and dispatch: none
// may panic, and every answer must be well-formed XML that parses back
// with from and to swapped.
func FuzzStanza(f *testing.F) {
	for _, s := range []string{
		`<message to='1.room@chat.example' from='a@x/r' type='groupchat' id='1'><body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='o'/></message>`,
		`<presence to='1.room@chat.example/Nick' from='a@x/r'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='5'/></x></presence>`,
		`<iq to='chat.example' from='a@x/r' type='get' id='q'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq to='chat.example' from='a@x/r' type='get' id='q'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
		`<iq to='bot@chat.example' from='a@x/r' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<message to='bot@chat.example' from='a@x/r' type='chat'><body>rooms</body></message>`,
		`<iq to='1.r@chat.example' from='a@x/r' type='set' id='m'><query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>x</max></set></query></iq>`,
		`<message to='@@' from='a@x/r'/>`,
		`<a><b><c><d/></c></b></a>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := parseElem(raw)
		if err != nil {
			return
		}
		c := fuzzComponent()
		c.dispatch(e)
		// Bot commands answer from a goroutine; wait for them.
		c.roomWG.Wait()
		for len(c.out) > 0 {
			out := <-c.out
			s := out.String()
			back, err := parseElem([]byte(s))
			if err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, s)
			}
			if back.attr("to") != out.attr("to") || back.attr("from") != out.attr("from") {
				t.Fatalf("answer's addresses changed on the wire: %s", s)
			}
			if utf8.ValidString(e.attr("from")) && out.attr("to") != "" && !strings.EqualFold(out.attr("to"), e.attr("from")) {
				t.Fatalf("answer to %q for a stanza from %q", out.attr("to"), e.attr("from"))
			}
		}
	})
}
