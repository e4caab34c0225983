// Package browsertest holds browser tests of the example wiki: headless
// Chromium, driven with chromedp, against the real wikihost binary with the
// real pagechat plugin, the way people use them.
//
// The test builds both binaries into a short temporary directory (unix
// socket paths are limited to about 104 bytes), starts wikihost on a free
// port, and gives each demo user a Chromium process of their own, so that
// each has their own cookies. Alice and bob log in through the login form,
// open the demo page and its room, chat both ways, paste a block of code,
// follow a wiki link, upload a file and reload; carol, who may not view the
// page, is refused and sees none of the room's data.
//
//	go test ./examples/wikihost/browsertest/
//
// Chromium is looked up as $PAGECHAT_CHROMIUM, then as chromium,
// chromium-browser, google-chrome-stable and google-chrome on $PATH. Without
// one the test is skipped (install it with `apt-get install chromium`),
// unless $CI is set: CI installs Chromium, so there a missing browser fails
// the test. Screenshots of the wiki page and of both chat popups are written
// to $PAGECHAT_TEST_ARTIFACTS when it is set, else to a temporary directory,
// and the test logs their paths.
package browsertest
