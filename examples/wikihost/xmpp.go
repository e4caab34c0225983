package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
	"github.com/pagechat/pagechat/host-sdk/xmpp"

	"github.com/pagechat/pagechat/examples/wikihost/internal/web"
	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
	"github.com/pagechat/pagechat/examples/wikihost/internal/xmpplink"
)

// The link store is the bridge's Users and AlertPrefs.
var (
	_ xmpp.Users      = (*xmpplink.Links)(nil)
	_ xmpp.AlertPrefs = (*xmpplink.Links)(nil)
)

// startXMPP opens the JID links, starts the XMPP bridge component and
// fills in webCfg's XMPP fields. The returned stop function ends the
// component and closes the links.
func startXMPP(ctx context.Context, cfg config, w *wiki.Wiki, client *hostsdk.Client, logger hclog.Logger, webCfg *web.Config) (func(), error) {
	raw, err := os.ReadFile(cfg.xmppSecretFile)
	if err != nil {
		return nil, fmt.Errorf("-xmpp-secret-file: %w", err)
	}
	secret := strings.TrimSpace(string(raw))
	if secret == "" {
		return nil, errors.New("-xmpp-secret-file: the file is empty")
	}
	links, err := xmpplink.Open(filepath.Join(cfg.dataDir, "xmpp-links.db"))
	if err != nil {
		return nil, err
	}
	comp, err := xmpp.New(xmpp.Config{
		Server:   cfg.xmppServer,
		Domain:   cfg.xmppDomain,
		Secret:   secret,
		Chat:     client,
		Users:    links,
		BaseURL:  publicURL(cfg.addr),
		LinkHelp: "Link this XMPP address to your wiki account first: log in to the wiki, open XMPP in the header (/me/xmpp) and enter this address.",
		Logger:   logger,
	})
	if err != nil {
		_ = links.Close()
		return nil, err
	}
	links.SetSender(comp, "the pagechat wiki")
	// Notifications the wiki stores also go to the user's verified JID,
	// unless they muted them (links is the component's AlertPrefs).
	w.SetAlerter(comp)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = comp.Run(runCtx)
	}()
	webCfg.XMPPLinks = links
	webCfg.XMPPBot = comp.BotJID()
	logger.Info("XMPP bridge on", "server", cfg.xmppServer, "domain", comp.Domain(), "bot", comp.BotJID())
	return func() {
		w.SetAlerter(nil)
		cancel()
		<-done
		closeLogged(logger, "XMPP links", links.Close)
	}, nil
}

// publicURL guesses the wiki's address for links sent over XMPP from the
// listen address; "" (links stay relative) when it names no fixed host
// and port.
func publicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "0" {
		return ""
	}
	return "http://" + net.JoinHostPort(host, port)
}
