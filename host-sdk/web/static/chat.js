// pagechat popup: one room's messages, live.
//
// Served under a strict CSP (no inline code, same-origin connections
// only). Message HTML comes from the server already rendered to safe HTML
// by the plugin and is inserted as is; every other string (names, file
// names, room name, errors) is set with textContent.
//
// Live updates come from ONE EventSource per window: browsers allow about
// six HTTP/1.1 connections per site. Messages are keyed and ordered by
// their sequence number, so replays after reconnects never duplicate and
// nothing is lost: the stream resumes after the last sequence received.
//
// When the popup loses access for good (logged out, permission revoked,
// room deleted) it stops: it drops the messages, people and files it
// showed, since the user may no longer see them, and disables the
// composer. A draft in the input stays: it is the user's own text.
'use strict';

(() => {
  const body = document.body;
  const API = body.dataset.api;
  const ME = body.dataset.userId || '';
  const UPLOAD_LIMIT = Number(body.dataset.uploadLimit) || 0;
  const MAX_MESSAGE = Number(body.dataset.maxMessage) || 0; // bytes of UTF-8
  const LOGIN_URL = body.dataset.loginUrl || '';
  const ROOM_NAME = (document.getElementById('room-title') || {}).textContent || '';

  const PAGE_SIZE = 50;          // messages per history request
  const MAX_DOM_MESSAGES = 1500; // long sessions drop the oldest from the page
  const PIN_SLACK = 48;          // px from the bottom that still counts as "at the bottom"
  const RETRY_MIN = 1000;        // reconnect back-off, ms
  const RETRY_MAX = 30000;
  const SEND_ATTEMPTS = 8;       // automatic retries of one send before asking the user
  const SOUND_KEY = 'pagechat.sound';
  const NOTIFY_KEY = 'pagechat.notify';
  const OFFLINE_BANNER_DELAY = 1500; // ms a reconnect may take before the banner shows
  const COUNTER_FROM = 0.8;      // the length counter shows from this share of the limit
  const GROUP_WINDOW = 5 * 60 * 1000; // one sender's messages this close share one name
  const COLLAPSE_ABOVE = 360;    // px: longer messages are folded behind "Show more"
  const TYPING_EVERY = 3000;     // ms between our typing signals while typing
  const TYPING_SHOWN = 6000;     // ms another user's typing signal stays shown
  // After activity the room info is fetched again, for the transcript the
  // plugin writes once the room has been quiet for a while, and for files.
  const INFO_AFTER_ACTIVITY = [5000, 20000, 75000];
  const INFO_PERIOD = 120000;    // and every two minutes while visible
  const PLACEHOLDER = 'Write a message — Enter sends, Shift+Enter starts a new line';

  const $ = (id) => document.getElementById(id);
  const el = {
    messages: $('messages'),
    list: $('message-list'),
    pending: $('pending-list'),
    loadOlder: $('load-older'),
    historyStatus: $('history-status'),
    pill: $('new-pill'),
    announcer: $('announcer'),
    banner: $('banner'),
    composer: $('composer'),
    composerHelp: $('composer-help'),
    composerError: $('composer-error'),
    counter: $('char-count'),
    readonly: $('readonly-note'),
    typing: $('typing'),
    input: $('input'),
    send: $('send'),
    attach: $('attach'),
    fileInput: $('file-input'),
    uploadStatus: $('upload-status'),
    participants: $('participants'),
    peopleStatus: $('people-status'),
    files: $('files'),
    filesEmpty: $('files-empty'),
    transcripts: $('transcripts'),
    transcriptsEmpty: $('transcripts-empty'),
    soundToggle: $('sound-toggle'),
    notifyToggle: $('notify-toggle'),
    infoToggle: $('info-toggle'),
    dropHint: $('drop-hint'),
  };

  const state = {
    epoch: '',
    streamSeq: 0,       // last sequence received in order (history or stream): where the stream resumes
    oldestSeq: 0,       // oldest sequence on the page, 0 if none
    hasMore: false,     // older messages exist before oldestSeq
    loadingOlder: false,
    nodes: new Map(),   // seq -> <li>
    es: null,           // the one EventSource
    retryDelay: RETRY_MIN,
    retryTimer: 0,
    stopped: false,     // access lost or room gone: no more reconnects
    canPost: body.dataset.canPost !== 'false',
    connected: false,   // our stream is open: presence shown is current
    wasConnected: false, // it has been: a lost stream is an outage, not the start
    sound: false,
    notify: false,
    participants: new Map(), // user_id -> participant
    infoTimer: 0,
    activityTimers: [],
    offlineTimer: 0,
    loading: false,
    newCount: 0,        // messages below the visible part, for the pill
    unread: 0,          // messages from others while the window is in the background
    blurred: false,
    typers: new Map(),  // user_id -> {name, until}
    typingTimer: 0,
    typingSentAt: 0,
    failed: null,       // the failed send shown at the composer
  };
  const pendings = new Map(); // client_id -> pending send
  const encoder = new TextEncoder();

  // ---- extension seam ----
  //
  // The popup loads every other script in its static folder after this one
  // (see host-sdk/http_pages.go). Those extend the popup through
  // window.pagechat rather than by reaching into this file:
  //
  //   pagechat.on('message', (li, m) => …)  a message's node was built (history or live)
  //   pagechat.on('info', (info) => …)      the room info was (re)loaded
  //   pagechat.on('ready', () => …)         the first history page is shown
  //   pagechat.onStream(type, (data, ev) => …)  SSE events of that type, on every stream
  //   pagechat.api(method, path, body)      JSON request below the room's API → {ok, status, data}
  //   pagechat.nodeFor(seq)                 the <li> of a shown message, or undefined
  //   pagechat.stop(text)                   stop the chat for good, with text in the banner
  //
  // A failing extension is logged and skipped; it never stops the chat.
  const hooks = new Map();          // name -> [fn]
  const streamHandlers = new Map(); // SSE event type -> [fn]

  function emit(name, ...args) {
    for (const fn of hooks.get(name) || []) {
      try { fn(...args); } catch (e) { console.error('pagechat extension failed on', name, e); }
    }
  }

  function listenStream(es, type) {
    es.addEventListener(type, (ev) => {
      if (es !== state.es) return;
      let data = null;
      try { data = JSON.parse(ev.data); } catch (_) { return; }
      for (const fn of streamHandlers.get(type) || []) {
        try { fn(data, ev); } catch (e) { console.error('pagechat extension failed on stream event', type, e); }
      }
    });
  }

  window.pagechat = Object.freeze({
    me: ME,
    roomId: body.dataset.roomId || '',
    apiBase: API,
    on(name, fn) {
      if (!hooks.has(name)) hooks.set(name, []);
      hooks.get(name).push(fn);
    },
    onStream(type, fn) {
      if (!streamHandlers.has(type)) {
        streamHandlers.set(type, []);
        if (state.es) listenStream(state.es, type);
      }
      streamHandlers.get(type).push(fn);
    },
    async api(method, path, payload) {
      const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
      if (payload !== undefined) {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(payload);
      }
      const r = await fetch(API + path, init);
      let data = null;
      try { data = await r.json(); } catch (_) { /* not JSON */ }
      return { ok: r.ok, status: r.status, data };
    },
    nodeFor(seq) { return state.nodes.get(seq); },
    node: (...a) => node(...a),
    setBanner: (...a) => setBanner(...a),
    stop: (...a) => stop(...a), // end the stream for good with a banner (kicked, banned)
    scrollToBottom: () => scrollToBottom(),
    // redecorate redoes the grouping and date separator of a message's
    // node and the one after it, after an extension changed or removed one.
    redecorate: (li) => redecorateAround(li),
  });

  // ---- small helpers ----

  function node(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
  }

  function button(cls, text, onClick) {
    const b = node('button', cls, text);
    b.type = 'button';
    if (onClick) b.addEventListener('click', onClick);
    return b;
  }

  // Only same-site paths and http(s) URLs become links.
  function safeHref(u) {
    if (typeof u !== 'string' || u === '' || u.includes('\\')) return '';
    if (u.startsWith('/')) return u.startsWith('//') ? '' : u;
    try {
      const p = new URL(u);
      return p.protocol === 'http:' || p.protocol === 'https:' ? p.href : '';
    } catch (_) {
      return '';
    }
  }

  // sentence makes a server's error message read as a sentence: capital
  // first letter, final full stop.
  function sentence(s) {
    s = String(s || '').trim();
    if (!s) return '';
    s = s[0].toUpperCase() + s.slice(1);
    return /[.!?…]$/.test(s) ? s : `${s}.`;
  }

  const LOCALES = navigator.languages && navigator.languages.length ? Array.from(navigator.languages) : undefined;
  const numFmt = new Intl.NumberFormat(LOCALES);

  function formatSize(n) {
    if (!(n >= 0)) return '';
    // Same wording as the macro table (humansize.Format).
    if (n < 1024) return `${n} bytes`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  function newClientId() {
    if (window.crypto && typeof crypto.randomUUID === 'function') {
      try { return crypto.randomUUID(); } catch (_) { /* insecure context */ }
    }
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  function jitter(ms) { return Math.round(ms * (0.75 + Math.random() * 0.5)); }

  function retryAfterMs(resp) {
    const s = Number(resp && resp.headers && resp.headers.get('Retry-After'));
    return s > 0 ? Math.min(s, 120) * 1000 : 0;
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    let data = null;
    try { data = await r.json(); } catch (_) { /* not JSON */ }
    return { ok: r.ok, status: r.status, data, resp: r };
  }

  // ---- times and dates, in the browser's own locale ----
  //
  // timeStyle 'short' gives each locale its own clock: 24-hour where
  // people use it, 12-hour where they do.
  const timeFmt = new Intl.DateTimeFormat(LOCALES, { timeStyle: 'short' });
  const dateFmt = new Intl.DateTimeFormat(LOCALES, { weekday: 'long', month: 'long', day: 'numeric' });
  const yearDateFmt = new Intl.DateTimeFormat(LOCALES, { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });
  const shortDateFmt = new Intl.DateTimeFormat(LOCALES, { month: 'short', day: 'numeric' });
  const fullFmt = new Intl.DateTimeFormat(LOCALES, { dateStyle: 'full', timeStyle: 'long' });
  const relFmt = typeof Intl.RelativeTimeFormat === 'function' ? new Intl.RelativeTimeFormat(LOCALES, { numeric: 'auto' }) : null;

  function dayStart(ms) {
    const d = new Date(ms);
    d.setHours(0, 0, 0, 0);
    return d.getTime();
  }

  function dayLabel(ms) {
    const days = Math.round((dayStart(Date.now()) - dayStart(ms)) / 86400000);
    if (days === 0) return 'Today';
    if (days === 1) return 'Yesterday';
    const d = new Date(ms);
    return (d.getFullYear() === new Date().getFullYear() ? dateFmt : yearDateFmt).format(d);
  }

  function timeNode(iso) {
    const t = node('time', 'msg-time');
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return t;
    t.dateTime = d.toISOString();
    t.textContent = timeFmt.format(d);
    t.title = fullFmt.format(d);
    return t;
  }

  // ago says how long ago ms was, roughly: "5 minutes ago", "yesterday".
  function ago(ms) {
    const s = Math.round((ms - Date.now()) / 1000);
    if (!relFmt) return shortDateFmt.format(new Date(ms));
    if (s > -60) return relFmt.format(Math.min(s, 0), 'second');
    if (s > -3600) return relFmt.format(Math.round(s / 60), 'minute');
    if (s > -86400) return relFmt.format(Math.round(s / 3600), 'hour');
    if (s > -86400 * 7) return relFmt.format(Math.round(s / 86400), 'day');
    return shortDateFmt.format(new Date(ms));
  }

  // ---- avatars: initials on a colour that stays the same for a user ----

  function initials(name) {
    const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
    const first = (w) => Array.from(w)[0] || '';
    const s = words.length > 1 ? first(words[0]) + first(words[words.length - 1]) : first(words[0] || '?');
    return s.toUpperCase();
  }

  function hue(id) {
    let h = 0;
    for (const ch of String(id)) h = (h * 31 + ch.codePointAt(0)) % 360;
    return h;
  }

  function avatar(id, name) {
    const a = node('span', 'avatar', initials(name || id));
    a.setAttribute('aria-hidden', 'true');
    // Dark enough for white initials to keep a 4.5:1 contrast on any hue.
    a.style.backgroundColor = `hsl(${hue(id)} 55% 30%)`;
    return a;
  }

  // ---- banner, status ----

  function setBanner(text, fatal, link) {
    el.banner.replaceChildren();
    if (text) el.banner.append(text);
    if (link && link.href) {
      const a = node('a', 'banner-link', link.text);
      a.href = link.href;
      a.id = 'banner-login';
      el.banner.append(' ', a);
    }
    el.banner.hidden = !text;
    el.banner.classList.toggle('fatal', !!fatal);
  }

  function setHistoryStatus(text) { el.historyStatus.textContent = text || ''; }

  function updateHistoryBar() {
    el.loadOlder.hidden = !state.hasMore || state.loadingOlder || state.stopped;
    if (state.stopped) setHistoryStatus('');
    else if (!state.loadingOlder && !state.hasMore && state.nodes.size > 0) setHistoryStatus('Beginning of the room');
    else if (!state.loadingOlder && state.nodes.size === 0 && !state.loading) setHistoryStatus('No messages yet. Say hello!');
    else if (!state.loadingOlder) setHistoryStatus('');
  }

  // The user lost access or the room is gone: stop for good, and drop
  // what the popup showed of the room (see the top of this file).
  function stop(message, status) {
    state.stopped = true;
    closeStream();
    clearTimeout(state.retryTimer);
    state.retryTimer = 0;
    clearTimeout(state.offlineTimer);
    state.offlineTimer = 0;
    for (const t of state.activityTimers) clearTimeout(t);
    state.activityTimers = [];
    const login = status === 401 && LOGIN_URL ? { href: LOGIN_URL, text: 'Log in again' } : null;
    setBanner(sentence(message), true, login);
    for (const p of pendings.values()) clearTimeout(p.timer);
    pendings.clear();
    state.nodes.clear();
    el.list.replaceChildren();
    el.pending.replaceChildren();
    el.announcer.replaceChildren();
    state.participants.clear();
    el.participants.replaceChildren();
    el.files.replaceChildren();
    el.transcripts.replaceChildren();
    el.filesEmpty.hidden = true;
    el.transcriptsEmpty.hidden = true;
    el.peopleStatus.hidden = true;
    state.typers.clear();
    renderTyping();
    setPill(0);
    updateHistoryBar();
    showComposerError(null);
    el.composer.classList.add('stopped');
    el.input.placeholder = '';
    el.input.removeAttribute('aria-describedby');
    el.composerHelp.hidden = true;
    el.input.disabled = true;
    el.send.disabled = true;
    el.attach.disabled = true;
    updateTitle();
  }

  function stopFor(status, data) {
    if (status === 401) stop('You are not logged in any more. Log in and open the chat again.', 401);
    else if (status === 403) stop((data && data.error) || 'You no longer have permission to view this room.', 403);
    else if (status === 404) stop('This room no longer exists.', 404);
    else return false;
    return true;
  }

  // showOffline says the stream is down, and that presence shown is no
  // longer known to be current.
  function showOffline(text) {
    if (state.stopped) return;
    setBanner(text || 'Offline — reconnecting…');
    setConnected(false);
  }

  // ---- scrolling and the "new messages" pill ----

  function isPinned() {
    const m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight <= PIN_SLACK;
  }

  function setPill(n) {
    state.newCount = n;
    el.pill.hidden = n <= 0;
    el.pill.textContent = n === 1 ? '1 new message ↓' : `${numFmt.format(n)} new messages ↓`;
  }

  function scrollToBottom() {
    el.messages.scrollTop = el.messages.scrollHeight;
    setPill(0);
  }

  el.messages.addEventListener('scroll', () => {
    if (isPinned()) setPill(0);
    if (el.messages.scrollTop < 80) loadOlder();
  }, { passive: true });

  el.pill.addEventListener('click', () => {
    scrollToBottom();
    el.input.focus();
  });

  // ---- messages ----

  function renderMessage(m) {
    const li = node('li', 'msg');
    li.dataset.seq = String(m.seq);
    li.dataset.user = String(m.user_id || '');
    const at = Date.parse(m.sent_at);
    if (!Number.isNaN(at)) li.dataset.at = String(at);
    if (m.file) li.dataset.file = '1';
    const main = node('div', 'msg-main');
    const head = node('div', 'msg-head');
    head.append(node('span', 'msg-author', m.user_name || m.user_id || '?'), timeNode(m.sent_at));
    const content = node('div', 'msg-body');
    content.id = `msg-body-${m.seq}`;
    // Safe HTML rendered by the plugin's allow-list renderer: insert as is.
    content.innerHTML = typeof m.html === 'string' ? m.html : '';
    main.append(head, content);
    li.append(avatar(m.user_id || '?', m.user_name), main);
    emit('message', li, m);
    return li;
  }

  function validMessage(m) {
    return m && Number.isSafeInteger(m.seq) && m.seq > 0;
  }

  function prevMsg(li) {
    let p = li.previousElementSibling;
    while (p && !p.classList.contains('msg')) p = p.previousElementSibling;
    return p;
  }

  function nextMsg(li) {
    let n = li.nextElementSibling;
    while (n && !n.classList.contains('msg')) n = n.nextElementSibling;
    return n;
  }

  // decorate gives li a date separator when it starts a day, and groups
  // it under the previous message's name when the same person sent both
  // within a few minutes.
  function decorate(li) {
    const prev = prevMsg(li);
    const at = Number(li.dataset.at);
    const prevAt = prev ? Number(prev.dataset.at) : NaN;
    const known = Number.isFinite(at);
    const newDay = known && (!prev || !Number.isFinite(prevAt) || dayStart(prevAt) !== dayStart(at));
    let sep = li.querySelector(':scope > .day-sep');
    if (newDay) {
      if (!sep) {
        sep = node('h2', 'day-sep');
        li.prepend(sep);
      }
      sep.textContent = dayLabel(at);
    } else if (sep) {
      sep.remove();
    }
    const grouped = !newDay && !!prev && known && prev.dataset.user === li.dataset.user &&
      at - prevAt >= 0 && at - prevAt < GROUP_WINDOW && !li.dataset.file && !prev.classList.contains('removed');
    li.classList.toggle('grouped', grouped);
    const author = li.querySelector('.msg-author');
    // Still read out by screen readers: only the eye skips the repeat.
    if (author) author.classList.toggle('visually-hidden', grouped);
    // The hidden head's time, as a tooltip; showing the head on hover
    // would move the text under the pointer.
    const main = li.querySelector('.msg-main');
    const time = li.querySelector('.msg-head time');
    if (main && time) {
      if (grouped) main.title = time.title;
      else main.removeAttribute('title');
    }
  }

  function redecorateAround(li) {
    if (!li) return;
    if (li.isConnected) decorate(li);
    const next = li.isConnected ? nextMsg(li) : null;
    if (next) decorate(next);
  }

  // collapseLong folds messages taller than COLLAPSE_ABOVE behind a "Show
  // more" button. It measures every node first and changes them after, so
  // a page of history costs one layout.
  function collapseLong(lis) {
    const tall = lis.filter((li) => {
      const b = li.querySelector('.msg-body');
      return b && !b.classList.contains('collapsed') && b.scrollHeight > COLLAPSE_ABOVE;
    });
    for (const li of tall) {
      const b = li.querySelector('.msg-body');
      b.classList.add('collapsed');
      const more = button('tool show-more', 'Show more');
      more.setAttribute('aria-expanded', 'false');
      more.setAttribute('aria-controls', b.id);
      more.addEventListener('click', () => {
        const open = b.classList.toggle('collapsed') === false;
        more.textContent = open ? 'Show less' : 'Show more';
        more.setAttribute('aria-expanded', String(open));
      });
      b.after(more);
    }
  }

  // Removes the "sending…" entry once its message is stored.
  function resolvePending(m) {
    if (!m.client_id || m.user_id !== ME) return;
    const p = pendings.get(m.client_id);
    if (p) {
      clearTimeout(p.timer);
      pendings.delete(m.client_id);
      p.li.remove();
      if (state.failed === p) showNextFailure();
    }
  }

  // insertMessage puts m in sequence order; it returns its new node, or
  // null if m was not new.
  function insertMessage(m) {
    if (!validMessage(m)) return null;
    resolvePending(m);
    if (state.nodes.has(m.seq)) return null;
    const li = renderMessage(m);
    let prev = el.list.lastElementChild;
    while (prev && Number(prev.dataset.seq) > m.seq) prev = prev.previousElementSibling;
    if (prev) prev.after(li); else el.list.prepend(li);
    state.nodes.set(m.seq, li);
    if (!state.oldestSeq || m.seq < state.oldestSeq) state.oldestSeq = m.seq;
    redecorateAround(li);
    collapseLong([li]);
    return li;
  }

  // prependHistory adds a page of older messages (oldest first) above the
  // ones shown, in one DOM operation.
  function prependHistory(msgs) {
    const first = el.list.firstElementChild;
    const firstSeq = first ? Number(first.dataset.seq) : Infinity;
    const frag = document.createDocumentFragment();
    const later = [];
    const added = [];
    for (const m of msgs) {
      if (!validMessage(m) || state.nodes.has(m.seq)) continue;
      if (m.seq > firstSeq) { later.push(m); continue; }
      const li = renderMessage(m);
      state.nodes.set(m.seq, li);
      frag.append(li);
      added.push(li);
      if (!state.oldestSeq || m.seq < state.oldestSeq) state.oldestSeq = m.seq;
    }
    el.list.prepend(frag);
    for (const li of added) decorate(li);
    if (first) decorate(first);
    collapseLong(added);
    later.forEach(insertMessage);
  }

  // Long sessions: keep the page bounded by dropping the oldest messages,
  // only while the user reads the bottom (nothing visible moves).
  function trimOld() {
    if (state.nodes.size <= MAX_DOM_MESSAGES || !isPinned()) return;
    while (state.nodes.size > MAX_DOM_MESSAGES - 200) {
      const first = el.list.firstElementChild;
      if (!first) break;
      state.nodes.delete(Number(first.dataset.seq));
      first.remove();
    }
    const first = el.list.firstElementChild;
    state.oldestSeq = first ? Number(first.dataset.seq) : 0;
    if (first) decorate(first);
    state.hasMore = true;
    updateHistoryBar();
    scrollToBottom();
  }

  function plainText(m) {
    const text = typeof m.text === 'string' ? m.text : '';
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  }

  function announce(m) {
    const line = node('p', null, `${m.user_name || m.user_id}: ${plainText(m)}`);
    el.announcer.append(line);
    while (el.announcer.childElementCount > 5) el.announcer.firstElementChild.remove();
  }

  // A message arrived on the stream, or as the answer to our own send.
  function showNew(m, live) {
    const pinned = isPinned();
    if (!insertMessage(m)) return;
    const mine = m.user_id === ME;
    if (pinned || (mine && !live)) scrollToBottom();
    else setPill(state.newCount + 1);
    if (live && !mine) {
      stopTyping(m.user_id);
      announce(m);
      if (state.sound) beep();
      if (inBackground()) {
        state.unread++;
        updateTitle();
        desktopNotify(m);
      }
    }
    scheduleActivityRefresh();
    updateHistoryBar();
    trimOld();
  }

  async function loadInitial() {
    state.loading = true;
    setHistoryStatus('Loading messages…');
    try {
      const r = await getJSON(`${API}/messages?limit=${PAGE_SIZE}`);
      if (!r.ok) {
        if (stopFor(r.status, r.data)) return false;
        throw new Error(`status ${r.status}`);
      }
      const page = r.data || {};
      const msgs = Array.isArray(page.messages) ? page.messages : [];
      state.epoch = page.epoch || '';
      state.hasMore = !!page.has_more;
      prependHistory(msgs);
      state.streamSeq = msgs.length ? msgs[msgs.length - 1].seq : 0;
      state.loading = false;
      updateHistoryBar();
      scrollToBottom();
      return true;
    } catch (_) {
      state.loading = false;
      setHistoryStatus('');
      showOffline();
      return false;
    }
  }

  async function loadOlder() {
    if (state.loadingOlder || !state.hasMore || !state.oldestSeq || state.stopped) return;
    state.loadingOlder = true;
    el.loadOlder.hidden = true;
    setHistoryStatus('Loading older messages…');
    try {
      const r = await getJSON(`${API}/messages?before=${state.oldestSeq}&limit=${PAGE_SIZE}`);
      if (!r.ok) {
        if (stopFor(r.status, r.data)) return;
        throw new Error(`status ${r.status}`);
      }
      const page = r.data || {};
      if (page.epoch && page.epoch !== state.epoch) {
        reload();
        return;
      }
      const box = el.messages;
      const height = box.scrollHeight;
      const top = box.scrollTop;
      prependHistory(Array.isArray(page.messages) ? page.messages : []);
      state.hasMore = !!page.has_more;
      // Keep what the user was reading in place.
      box.scrollTop = top + (box.scrollHeight - height);
      state.loadingOlder = false;
      updateHistoryBar();
    } catch (_) {
      state.loadingOlder = false;
      updateHistoryBar();
      setHistoryStatus('Could not load older messages.');
    }
  }

  el.loadOlder.addEventListener('click', loadOlder);

  // The room's history was reset (new epoch): start over.
  async function reload() {
    closeStream();
    state.nodes.clear();
    el.list.replaceChildren();
    state.oldestSeq = 0;
    state.streamSeq = 0;
    state.hasMore = false;
    if (await loadInitial()) openStream();
    else scheduleReconnect();
  }

  // ---- links in messages ----
  //
  // The popup is the chat: following a link in it must not replace the
  // chat. A page of this site opens in the window that opened the popup
  // (the wiki page), if it is still open and of this site; anything else
  // opens in a new tab.
  el.list.addEventListener('click', (ev) => {
    const a = ev.target.closest && ev.target.closest('.msg-body a[href]');
    if (!a || ev.defaultPrevented || ev.button !== 0) return;
    if (a.hasAttribute('download')) return; // downloads do not navigate
    if (ev.ctrlKey || ev.metaKey || ev.shiftKey) return; // the browser's own new tab or window
    let url;
    try { url = new URL(a.href, location.href); } catch (_) { return; }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return;
    ev.preventDefault();
    if (url.origin === location.origin && openInOpener(url.href)) return;
    window.open(url.href, '_blank', 'noopener');
  });

  function openInOpener(href) {
    const w = window.opener;
    try {
      if (!w || w.closed || w.location.origin !== location.origin) return false;
      w.location.assign(href);
      w.focus();
      return true;
    } catch (_) {
      return false; // another site's window: not ours to steer
    }
  }

  // ---- the live stream ----

  function closeStream() {
    if (state.es) {
      state.es.close();
      state.es = null;
    }
  }

  function openStream() {
    closeStream();
    if (state.stopped) return;
    let url = `${API}/events?after=${state.streamSeq}`;
    if (state.epoch) url += `&epoch=${encodeURIComponent(state.epoch)}`;
    // On its own reconnects the EventSource sends Last-Event-ID (the last
    // sequence it got), which the server prefers over ?after=.
    const es = new EventSource(url);
    state.es = es;
    for (const type of streamHandlers.keys()) listenStream(es, type);
    es.addEventListener('open', () => {
      if (es !== state.es) return;
      clearTimeout(state.offlineTimer);
      state.offlineTimer = 0;
      setBanner('');
      state.retryDelay = RETRY_MIN;
      // Presence changed while we were away goes unreported: fetch it now.
      // Our own "came online" event may have been sent before this stream
      // was registered, and the room info may predate our join: show
      // ourselves online now, and fetch again once the join is recorded.
      markSelfOnline();
      loadInfo(true);
      scheduleInfoRefresh();
    });
    es.addEventListener('message', (ev) => {
      if (es !== state.es) return;
      let m;
      try { m = JSON.parse(ev.data); } catch (_) { return; }
      if (!validMessage(m)) return;
      if (state.epoch && m.epoch && m.epoch !== state.epoch) {
        reload();
        return;
      }
      if (m.seq > state.streamSeq) state.streamSeq = m.seq;
      showNew(m, true);
    });
    es.addEventListener('presence', (ev) => {
      if (es !== state.es) return;
      let p;
      try { p = JSON.parse(ev.data); } catch (_) { return; }
      if (!p || typeof p.user_id !== 'string') return;
      const known = state.participants.get(p.user_id) || {};
      state.participants.set(p.user_id, Object.assign({}, known, p));
      if (!p.online) stopTyping(p.user_id);
      renderParticipants();
    });
    es.addEventListener('typing', (ev) => {
      if (es !== state.es) return;
      let t;
      try { t = JSON.parse(ev.data); } catch (_) { return; }
      if (!t || typeof t.user_id !== 'string' || t.user_id === ME) return;
      state.typers.set(t.user_id, { name: t.display_name || t.user_id, until: Date.now() + TYPING_SHOWN });
      renderTyping();
    });
    es.addEventListener('reset', () => {
      if (es !== state.es) return;
      reload();
    });
    es.addEventListener('error', (ev) => {
      if (es !== state.es) return;
      if (typeof ev.data === 'string' && ev.data !== '') {
        // An error event sent by the server, before it ends the stream.
        let info = {};
        try { info = JSON.parse(ev.data) || {}; } catch (_) { /* keep {} */ }
        if (info.code === 'forbidden') { stop(info.error || 'You no longer have permission to view this room.', 403); return; }
        if (info.code === 'unauthenticated') { stop(info.error || 'Your login has ended; log in again to use the chat.', 401); return; }
        if (info.code === 'not_found') { stop(info.error || 'This room no longer exists.', 404); return; }
        showOffline('Chat unavailable — reconnecting…');
        return; // the EventSource reconnects by itself
      }
      // CLOSED means the EventSource gave up (an HTTP error answer);
      // CONNECTING means it retries by itself, usually within seconds:
      // the banner waits a moment so a routine reconnect does not flash.
      if (es.readyState === EventSource.CLOSED) {
        showOffline();
        scheduleReconnect();
      } else if (!state.offlineTimer) {
        state.offlineTimer = setTimeout(() => {
          state.offlineTimer = 0;
          if (!state.stopped && (!state.es || state.es.readyState !== EventSource.OPEN)) showOffline();
        }, OFFLINE_BANNER_DELAY);
      }
    });
  }

  // Reconnect by hand, with back-off, after the EventSource gave up or the
  // first load failed. It first asks why: a lost login or permission stops.
  function scheduleReconnect() {
    closeStream();
    if (state.stopped || state.retryTimer) return;
    const delay = jitter(state.retryDelay);
    state.retryDelay = Math.min(state.retryDelay * 2, RETRY_MAX);
    state.retryTimer = setTimeout(reconnectNow, delay);
  }

  async function reconnectNow() {
    clearTimeout(state.retryTimer);
    state.retryTimer = 0;
    if (state.stopped) return;
    let r;
    try {
      r = await getJSON(API);
    } catch (_) {
      scheduleReconnect();
      return;
    }
    if (!r.ok) {
      if (!stopFor(r.status, r.data)) scheduleReconnect();
      return;
    }
    renderInfo(r.data || {}, false);
    if (!state.epoch) {
      // The first load never succeeded.
      if (await loadInitial()) openStream();
      else scheduleReconnect();
      return;
    }
    if (r.data && r.data.epoch && r.data.epoch !== state.epoch) {
      reload();
      return;
    }
    openStream();
  }

  window.addEventListener('online', () => {
    if (state.stopped) return;
    if (state.es && state.es.readyState === EventSource.OPEN) {
      // The stream outlived the outage; what happened meanwhile is not.
      setBanner('');
      loadInfo(true);
      return;
    }
    if (!state.es || state.es.readyState === EventSource.CLOSED) {
      state.retryDelay = RETRY_MIN;
      reconnectNow();
    }
  });
  window.addEventListener('offline', () => showOffline());

  // ---- the composer ----

  function textBytes(s) { return MAX_MESSAGE ? encoder.encode(s).length : 0; }

  // updateComposer keeps Send, the length counter and the input's state in
  // step with what is typed.
  function updateComposer() {
    const text = el.input.value;
    const n = textBytes(text);
    const over = MAX_MESSAGE > 0 && n > MAX_MESSAGE;
    const near = MAX_MESSAGE > 0 && n >= MAX_MESSAGE * COUNTER_FROM;
    el.counter.hidden = !near;
    el.counter.classList.toggle('over', over);
    if (over) el.counter.textContent = `Too long: ${numFmt.format(n)} of ${numFmt.format(MAX_MESSAGE)} bytes. Shorten it, or upload it as a file.`;
    else if (near) el.counter.textContent = `${numFmt.format(MAX_MESSAGE - n)} bytes left`;
    el.input.setAttribute('aria-invalid', String(over));
    el.send.disabled = state.stopped || !state.canPost || text.trim() === '' || over;
  }

  // setCanPost switches between the composer and the read-only note.
  function setCanPost(can) {
    state.canPost = can;
    el.composer.classList.toggle('readonly', !can);
    el.readonly.hidden = can;
    el.input.hidden = !can;
    el.send.hidden = !can;
    el.attach.hidden = !can;
    el.composerHelp.hidden = !can;
    if (!state.stopped) {
      el.input.disabled = !can;
      el.attach.disabled = !can;
    }
    updateComposer();
  }

  // showComposerError shows a failed send at the composer, where the user
  // looks, with only the actions that can help.
  function showComposerError(p) {
    state.failed = p || null;
    if (!p) {
      el.composerError.hidden = true;
      el.composerError.replaceChildren();
      return;
    }
    const text = node('span', 'composer-error-text', `Not sent. ${sentence(p.reason)}`);
    const actions = node('span', 'composer-error-actions');
    // A message refused before sending is still in the input: nothing to
    // put back or throw away.
    // Without post permission there is no input to edit in: the text
    // stays readable (and copyable) in the list until discarded.
    if (!p.local) {
      if (p.retryable && state.canPost) actions.append(button('tool', 'Retry', () => { retry(p); }));
      if (state.canPost) actions.append(button('tool', 'Edit', () => { editFailed(p); }));
      actions.append(button('tool', 'Discard', () => { discardFailed(p); }));
    }
    el.composerError.replaceChildren(text, actions);
    el.composerError.hidden = false;
  }

  // showNextFailure shows the next message still not sent, if any.
  function showNextFailure() {
    for (const p of pendings.values()) {
      if (p.failed) { showComposerError(p); return; }
    }
    showComposerError(null);
  }

  function renderPending(p) {
    const li = node('li', 'msg pending');
    const main = node('div', 'msg-main');
    const head = node('div', 'msg-head');
    p.status = node('span', 'msg-time', 'Sending…');
    p.actions = node('span', 'msg-actions');
    head.append(node('span', 'msg-author', 'You'), p.status, p.actions);
    main.append(head, node('div', 'msg-body', p.text));
    li.append(avatar(ME || '?', ME), main);
    return li;
  }

  function submit() {
    if (state.stopped || !state.canPost) return;
    const text = el.input.value;
    if (text.trim() === '') return;
    const n = textBytes(text);
    if (MAX_MESSAGE && n > MAX_MESSAGE) {
      // Kept in the input: the user shortens it or uploads it as a file.
      showComposerError({
        reason: `your message is ${numFmt.format(n)} bytes; the limit is ${numFmt.format(MAX_MESSAGE)}. Shorten it, or upload it as a file`,
        retryable: false, text, local: true,
      });
      return;
    }
    el.input.value = '';
    updateComposer();
    sendTypingStop();
    const p = { id: newClientId(), text, attempt: 0, timer: 0 };
    p.li = renderPending(p);
    pendings.set(p.id, p);
    el.pending.append(p.li);
    scrollToBottom();
    post(p);
  }

  async function post(p) {
    if (!pendings.has(p.id)) return;
    p.attempt++;
    p.failed = false;
    p.li.classList.remove('failed');
    p.actions.replaceChildren();
    p.status.textContent = p.attempt > 1 ? 'Sending… (retrying)' : 'Sending…';
    let resp;
    try {
      resp = await fetch(`${API}/messages`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        // The same client_id on every retry: the server stores it once.
        body: JSON.stringify({ text: p.text, client_id: p.id }),
      });
    } catch (_) {
      retryLater(p, 0); // network error
      return;
    }
    let data = null;
    try { data = await resp.json(); } catch (_) { /* not JSON */ }
    if (resp.ok && data && validMessage(data.message)) {
      showNew(data.message, false);
      resolvePending(data.message);
      return;
    }
    if ([429, 502, 503, 504].includes(resp.status)) {
      retryLater(p, retryAfterMs(resp));
      return;
    }
    const reason = (data && data.error) || `error ${resp.status}`;
    if (resp.status === 401) {
      // Stopping clears the list: the unsent text goes back to the input,
      // to be copied or sent after logging in again.
      if (el.input.value.trim() === '') el.input.value = p.text;
      stopFor(401, data);
      return;
    }
    if (resp.status === 403) {
      // Not allowed to post (any more): no retry can succeed, and the
      // composer becomes read-only. Should the user have lost view too,
      // the stream's error event stops the popup.
      setCanPost(false);
      fail(p, reason, false);
      loadInfo(false);
      return;
    }
    // 400 and 413 (too long, malformed) fail again the same way; other
    // answers may be passing trouble.
    fail(p, reason, ![400, 404, 413].includes(resp.status));
  }

  function retryLater(p, afterMs) {
    if (p.attempt >= SEND_ATTEMPTS) {
      fail(p, 'could not reach the chat', true);
      return;
    }
    const backoff = jitter(Math.min(RETRY_MIN * 2 ** (p.attempt - 1), RETRY_MAX));
    p.status.textContent = 'Sending… (waiting to retry)';
    p.timer = setTimeout(() => post(p), Math.max(afterMs, backoff));
  }

  function retry(p) {
    p.attempt = 0;
    post(p);
    showNextFailure();
  }

  function editFailed(p) {
    if (!p.local) {
      pendings.delete(p.id);
      p.li.remove();
    }
    if (el.input.value.trim() === '' || p.local) el.input.value = p.text;
    updateComposer();
    showNextFailure();
    el.input.focus();
  }

  function discardFailed(p) {
    if (p.local) {
      el.input.value = '';
      updateComposer();
    } else {
      pendings.delete(p.id);
      p.li.remove();
    }
    showNextFailure();
    el.input.focus();
  }

  function fail(p, reason, retryable) {
    p.failed = true;
    p.reason = reason;
    p.retryable = retryable;
    p.li.classList.add('failed');
    p.status.textContent = 'Not sent';
    const actions = [];
    if (retryable && state.canPost) actions.push(button('tool', 'Retry', () => retry(p)));
    if (state.canPost) {
      const edit = button('tool', 'Edit', () => editFailed(p));
      edit.title = 'Put the text back into the input';
      actions.push(edit);
    }
    p.actions.replaceChildren(...actions);
    showComposerError(p);
  }

  el.composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submit();
    el.input.focus();
  });

  el.input.addEventListener('keydown', (ev) => {
    // Enter sends; Shift+Enter is a new line; never while an input method
    // is composing (Enter then confirms the composition).
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.altKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      submit();
    }
  });

  el.input.addEventListener('input', () => {
    updateComposer();
    if (state.failed && state.failed.local) showComposerError(null);
    if (el.input.value.trim() !== '') sendTyping();
  });

  // ---- typing ----
  //
  // While the user types, one signal every TYPING_EVERY ms at most; the
  // server passes it to the room's open streams and stores nothing. The
  // others show it for TYPING_SHOWN ms unless a new signal or the
  // message itself comes first.

  function sendTyping() {
    if (state.stopped || !state.canPost || !state.connected) return;
    const now = Date.now();
    if (now - state.typingSentAt < TYPING_EVERY) return;
    state.typingSentAt = now;
    fetch(`${API}/typing`, { method: 'POST', credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .catch(() => { /* a lost typing signal is harmless */ });
  }

  // After a send the next keystroke may signal again at once.
  function sendTypingStop() { state.typingSentAt = 0; }

  function stopTyping(userID) {
    if (state.typers.delete(userID)) renderTyping();
  }

  function renderTyping() {
    const now = Date.now();
    for (const [id, t] of state.typers) if (t.until <= now) state.typers.delete(id);
    const names = Array.from(state.typers.values(), (t) => t.name);
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = 'Several people are typing…';
    el.typing.textContent = text;
    el.typing.classList.toggle('active', names.length > 0);
    clearTimeout(state.typingTimer);
    state.typingTimer = 0;
    if (state.typers.size > 0) {
      const next = Math.min(...Array.from(state.typers.values(), (t) => t.until));
      state.typingTimer = setTimeout(renderTyping, Math.max(next - now, 50));
    }
  }

  // ---- uploads ----

  function uploadRow(file) {
    const row = node('div', 'upload-row');
    const label = node('span', null, `Uploading ${file.name} `);
    const bar = node('progress');
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute('aria-label', `Upload progress of ${file.name}`);
    row.append(label, bar);
    el.uploadStatus.append(row);
    return { row, label, bar };
  }

  function uploadFailed(ui, file, clientId, reason, retryable) {
    ui.bar.remove();
    ui.label.textContent = `${file.name}: not uploaded. ${sentence(reason)} `;
    ui.label.classList.add('error');
    if (retryable) ui.row.append(button('tool', 'Retry', () => { ui.row.remove(); uploadFile(file, clientId); }));
    ui.row.append(button('tool', 'Dismiss', () => ui.row.remove()));
  }

  function uploadFile(file, clientId) {
    if (state.stopped || !state.canPost) return;
    const id = clientId || newClientId();
    const ui = uploadRow(file);
    if (UPLOAD_LIMIT && file.size > UPLOAD_LIMIT) {
      uploadFailed(ui, file, id, `too large (the limit is ${formatSize(UPLOAD_LIMIT)})`, false);
      return;
    }
    const form = new FormData();
    form.append('client_id', id);
    form.append('file', file, file.name);
    // XMLHttpRequest, not fetch: only it reports upload progress.
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${API}/files`);
    xhr.responseType = 'json';
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable && e.total > 0) ui.bar.value = e.loaded / e.total;
    });
    xhr.addEventListener('load', () => {
      const data = xhr.response;
      if (xhr.status === 200 && data && validMessage(data.message)) {
        ui.row.remove();
        showNew(data.message, false);
        scheduleInfoRefresh();
        return;
      }
      uploadFailed(ui, file, id, (data && data.error) || `error ${xhr.status}`, ![400, 401, 403, 404, 413].includes(xhr.status));
    });
    xhr.addEventListener('error', () => uploadFailed(ui, file, id, 'network error', true));
    xhr.send(form);
  }

  function uploadFiles(list) {
    for (const f of Array.from(list || [])) uploadFile(f);
  }

  el.attach.addEventListener('click', () => el.fileInput.click());
  el.fileInput.addEventListener('change', () => {
    uploadFiles(el.fileInput.files);
    el.fileInput.value = '';
  });

  function hasFiles(ev) {
    const types = ev.dataTransfer && ev.dataTransfer.types;
    return !!types && Array.from(types).includes('Files');
  }

  el.messages.addEventListener('dragenter', (ev) => {
    if (!hasFiles(ev) || state.stopped || !state.canPost) return;
    ev.preventDefault();
    el.messages.classList.add('dragging');
    el.dropHint.hidden = false;
  });
  el.messages.addEventListener('dragover', (ev) => {
    if (!hasFiles(ev) || state.stopped || !state.canPost) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = 'copy';
  });
  el.messages.addEventListener('dragleave', (ev) => {
    if (ev.relatedTarget && el.messages.contains(ev.relatedTarget)) return;
    el.messages.classList.remove('dragging');
    el.dropHint.hidden = true;
  });
  el.messages.addEventListener('drop', (ev) => {
    el.messages.classList.remove('dragging');
    el.dropHint.hidden = true;
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    uploadFiles(ev.dataTransfer.files);
  });
  // A file dropped beside the list must not navigate the popup away.
  window.addEventListener('dragover', (ev) => { if (hasFiles(ev)) ev.preventDefault(); });
  window.addEventListener('drop', (ev) => { if (hasFiles(ev)) ev.preventDefault(); });

  // ---- info panel ----

  // setConnected records whether the presence shown is current: only
  // while our own stream is open do we hear of people coming and going.
  function setConnected(ok) {
    if (state.connected === ok) return;
    state.connected = ok;
    if (!ok) {
      state.typers.clear();
      renderTyping();
    }
    renderParticipants();
  }

  function renderParticipants() {
    const people = Array.from(state.participants.values());
    const known = state.connected;
    people.sort((a, b) => (known && (b.online === true) - (a.online === true)) ||
      String(a.display_name || a.user_id).localeCompare(String(b.display_name || b.user_id)));
    const items = people.map((p) => {
      const li = node('li', 'person');
      const online = known && p.online === true;
      const dot = node('span', known ? (online ? 'dot online' : 'dot') : 'dot unknown');
      dot.setAttribute('aria-hidden', 'true');
      const who = node('span', 'person-name', p.display_name || p.user_id);
      let status = 'status unknown';
      if (known && online) status = 'online';
      else if (p.last_seen) {
        const d = new Date(p.last_seen);
        if (!Number.isNaN(d.getTime())) {
          status = known ? `last seen ${ago(d.getTime())}` : `seen ${ago(d.getTime())}`;
          li.title = `Last seen ${fullFmt.format(d)}`;
        }
      } else if (known) status = 'offline';
      li.dataset.user = String(p.user_id);
      li.append(dot, who, node('span', 'person-status', status));
      return li;
    });
    el.participants.replaceChildren(...items);
    el.peopleStatus.hidden = known || !state.wasConnected || state.stopped || people.length === 0;
  }

  // markSelfOnline shows the viewer as online while their stream is open:
  // having the popup connected is what being online means.
  function markSelfOnline() {
    if (!ME || !state.es || state.es.readyState !== EventSource.OPEN) return;
    const known = state.participants.get(ME) || { user_id: ME };
    state.participants.set(ME, Object.assign({}, known, { online: true }));
  }

  // renderInfo shows the room info. fresh says it was fetched while our
  // stream is open, so its presence is current.
  function renderInfo(info, fresh) {
    if (state.stopped) return;
    if (typeof info.can_post === 'boolean' && info.can_post !== state.canPost) setCanPost(info.can_post);
    if (Array.isArray(info.participants)) {
      state.participants.clear();
      for (const p of info.participants) if (p && typeof p.user_id === 'string') state.participants.set(p.user_id, p);
      markSelfOnline();
      if (fresh && state.es && state.es.readyState === EventSource.OPEN) state.connected = state.wasConnected = true;
      renderParticipants();
    }
    const files = Array.isArray(info.files) ? info.files.slice().reverse() : [];
    el.files.replaceChildren(...files.map((f) => {
      const li = node('li');
      const href = safeHref(f.url);
      if (href) {
        const a = node('a', null, f.name || 'file');
        a.href = href;
        a.setAttribute('download', '');
        li.append(a);
      } else {
        li.append(node('span', null, f.name || 'file'));
      }
      li.append(node('span', 'file-size', formatSize(f.size)));
      return li;
    }));
    el.filesEmpty.hidden = files.length > 0;
    const transcripts = Array.isArray(info.transcripts) ? info.transcripts : [];
    el.transcripts.replaceChildren(...transcripts.map((t) => {
      const li = node('li');
      const href = safeHref(t.url);
      const label = t.date || t.title || 'transcript';
      if (href) {
        const a = node('a', null, label);
        a.href = href;
        a.target = '_blank';
        a.rel = 'noopener';
        if (t.title) a.title = t.title;
        li.append(a);
      } else {
        li.append(node('span', 'muted', label));
      }
      return li;
    }));
    el.transcriptsEmpty.hidden = transcripts.length > 0;
  }

  async function loadInfo(fresh) {
    if (state.stopped) return;
    try {
      const r = await getJSON(API);
      if (r.ok) {
        renderInfo(r.data || {}, fresh !== false);
        emit('info', r.data || {});
      } else stopFor(r.status, r.data);
    } catch (_) { /* the stream's reconnect reports the outage */ }
  }

  // Refresh the panel at most every two seconds, e.g. after uploads.
  function scheduleInfoRefresh() {
    if (state.infoTimer) return;
    state.infoTimer = setTimeout(() => {
      state.infoTimer = 0;
      loadInfo(true);
    }, 2000);
  }

  // After messages the plugin writes the day's transcript once the room
  // is quiet, and the transcript list should show it: fetch the info a
  // few times after the latest activity.
  function scheduleActivityRefresh() {
    for (const t of state.activityTimers) clearTimeout(t);
    if (state.stopped) return;
    state.activityTimers = INFO_AFTER_ACTIVITY.map((ms) => setTimeout(() => loadInfo(true), ms));
  }

  setInterval(() => {
    if (!state.stopped && document.visibilityState === 'visible') loadInfo(true);
    else if (!state.stopped) renderParticipants(); // keeps "last seen" current
  }, INFO_PERIOD);

  el.infoToggle.addEventListener('click', () => {
    const open = body.classList.toggle('info-open');
    el.infoToggle.setAttribute('aria-expanded', String(open));
  });

  // ---- background: unread count in the title, desktop notifications ----

  const BASE_TITLE = document.title;

  function inBackground() {
    return document.visibilityState === 'hidden' || state.blurred;
  }

  function updateTitle() {
    document.title = state.unread > 0 && !state.stopped ? `(${state.unread}) ${BASE_TITLE}` : BASE_TITLE;
  }

  function backInFront() {
    if (inBackground()) return;
    state.unread = 0;
    updateTitle();
  }

  document.addEventListener('visibilitychange', backInFront);
  window.addEventListener('blur', () => { state.blurred = true; });
  window.addEventListener('focus', () => { state.blurred = false; backInFront(); });

  function desktopNotify(m) {
    if (!state.notify || !('Notification' in window) || Notification.permission !== 'granted') return;
    try {
      const n = new Notification(`${m.user_name || m.user_id} in ${ROOM_NAME}`, {
        body: plainText(m), tag: `pagechat-${body.dataset.roomId || ''}`,
      });
      n.onclick = () => { window.focus(); n.close(); };
    } catch (_) { /* notifications are optional */ }
  }

  function setNotify(on) {
    state.notify = on;
    el.notifyToggle.setAttribute('aria-pressed', String(on));
    el.notifyToggle.textContent = on ? 'Notifications: on' : 'Notifications: off';
    try { localStorage.setItem(NOTIFY_KEY, on ? '1' : '0'); } catch (_) { /* storage disabled */ }
  }

  el.notifyToggle.addEventListener('click', async () => {
    if (state.notify) { setNotify(false); return; }
    if (!('Notification' in window)) {
      el.notifyToggle.title = 'This browser cannot show notifications.';
      return;
    }
    // Permission is asked for only now, when the user turns them on.
    let perm = Notification.permission;
    if (perm === 'default') {
      try { perm = await Notification.requestPermission(); } catch (_) { perm = 'denied'; }
    }
    if (perm === 'granted') setNotify(true);
    else el.notifyToggle.title = 'Notifications are blocked for this site in the browser settings.';
  });

  // ---- sound ----

  let audio = null;

  // Browsers start audio only after a user gesture, so the context is made
  // on a click or key press.
  function ensureAudio() {
    if (audio) return;
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return;
    try { audio = new AC(); } catch (_) { audio = null; }
  }

  function beep() {
    if (!audio) return;
    try {
      if (audio.state === 'suspended') audio.resume();
      const t = audio.currentTime;
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = 'sine';
      osc.frequency.setValueAtTime(880, t);
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.12, t + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.18);
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start(t);
      osc.stop(t + 0.2);
    } catch (_) { /* sound is optional */ }
  }

  function setSound(on) {
    state.sound = on;
    el.soundToggle.setAttribute('aria-pressed', String(on));
    el.soundToggle.textContent = on ? 'Sound: on' : 'Sound: off';
    try { localStorage.setItem(SOUND_KEY, on ? '1' : '0'); } catch (_) { /* storage disabled */ }
  }

  el.soundToggle.addEventListener('click', () => {
    setSound(!state.sound);
    if (state.sound) {
      ensureAudio();
      beep();
    }
  });
  const wakeAudio = () => { if (state.sound) ensureAudio(); };
  document.addEventListener('pointerdown', wakeAudio, { once: true });
  document.addEventListener('keydown', wakeAudio, { once: true });

  // ---- start ----

  (function start() {
    let sound = false;
    let notify = false;
    try {
      sound = localStorage.getItem(SOUND_KEY) === '1';
      notify = localStorage.getItem(NOTIFY_KEY) === '1';
    } catch (_) { /* storage disabled */ }
    setSound(sound);
    setNotify(notify && 'Notification' in window && Notification.permission === 'granted');
    el.input.placeholder = PLACEHOLDER;
    setCanPost(state.canPost);
    loadInfo(false);
    loadInitial().then((ok) => {
      if (ok) emit('ready');
      if (ok) openStream();
      else if (!state.stopped) scheduleReconnect();
    });
    if (state.canPost) el.input.focus();
  })();
})();
