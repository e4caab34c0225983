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
'use strict';

(() => {
  const body = document.body;
  const API = body.dataset.api;
  const ME = body.dataset.userId || '';
  const UPLOAD_LIMIT = Number(body.dataset.uploadLimit) || 0;

  const PAGE_SIZE = 50;          // messages per history request
  const MAX_DOM_MESSAGES = 1500; // long sessions drop the oldest from the page
  const PIN_SLACK = 48;          // px from the bottom that still counts as "at the bottom"
  const RETRY_MIN = 1000;        // reconnect back-off, ms
  const RETRY_MAX = 30000;
  const SEND_ATTEMPTS = 8;       // automatic retries of one send before asking the user
  const SOUND_KEY = 'pagechat.sound';
  const OFFLINE_BANNER_DELAY = 1500; // ms a reconnect may take before the banner shows

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
    input: $('input'),
    send: $('send'),
    attach: $('attach'),
    fileInput: $('file-input'),
    uploadStatus: $('upload-status'),
    participants: $('participants'),
    files: $('files'),
    filesEmpty: $('files-empty'),
    transcripts: $('transcripts'),
    transcriptsEmpty: $('transcripts-empty'),
    soundToggle: $('sound-toggle'),
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
    sound: false,
    participants: new Map(), // user_id -> participant
    infoTimer: 0,
    offlineTimer: 0,
    loading: false,
  };
  const pendings = new Map(); // client_id -> pending send

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
  });

  // ---- small helpers ----

  function node(tag, cls, text) {
    const n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text !== undefined && text !== null) n.textContent = String(text);
    return n;
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

  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const dayTimeFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });

  function timeNode(iso) {
    const t = node('time', 'msg-time');
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return t;
    const now = new Date();
    const today = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
    t.dateTime = d.toISOString();
    t.textContent = today ? timeFmt.format(d) : dayTimeFmt.format(d);
    t.title = fullFmt.format(d);
    return t;
  }

  // ---- banner, status ----

  function setBanner(text, fatal) {
    el.banner.textContent = text || '';
    el.banner.hidden = !text;
    el.banner.classList.toggle('fatal', !!fatal);
  }

  function setHistoryStatus(text) { el.historyStatus.textContent = text || ''; }

  function updateHistoryBar() {
    el.loadOlder.hidden = !state.hasMore || state.loadingOlder;
    if (!state.loadingOlder && !state.hasMore && state.nodes.size > 0) setHistoryStatus('Beginning of the room');
    else if (!state.loadingOlder && state.nodes.size === 0 && !state.loading) setHistoryStatus('No messages yet. Say hello!');
    else if (!state.loadingOlder) setHistoryStatus('');
  }

  // The user lost access or the room is gone: stop for good.
  function stop(message) {
    state.stopped = true;
    closeStream();
    clearTimeout(state.retryTimer);
    state.retryTimer = 0;
    setBanner(message, true);
    el.input.disabled = true;
    el.send.disabled = true;
    el.attach.disabled = true;
  }

  function stopFor(status, data) {
    if (status === 401) stop('You are not logged in any more. Log in and open the chat again.');
    else if (status === 403) stop((data && data.error) || 'You no longer have permission to view this room.');
    else if (status === 404) stop('This room no longer exists.');
    else return false;
    return true;
  }

  // ---- scrolling ----

  function isPinned() {
    const m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight <= PIN_SLACK;
  }

  function scrollToBottom() {
    el.messages.scrollTop = el.messages.scrollHeight;
    el.pill.hidden = true;
  }

  el.messages.addEventListener('scroll', () => {
    if (isPinned()) el.pill.hidden = true;
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
    const head = node('div', 'msg-head');
    head.append(node('span', 'msg-author', m.user_name || m.user_id || '?'), timeNode(m.sent_at));
    const content = node('div', 'msg-body');
    // Safe HTML rendered by the plugin's allow-list renderer: insert as is.
    content.innerHTML = typeof m.html === 'string' ? m.html : '';
    li.append(head, content);
    emit('message', li, m);
    return li;
  }

  function validMessage(m) {
    return m && Number.isSafeInteger(m.seq) && m.seq > 0;
  }

  // Removes the "sending…" entry once its message is stored.
  function resolvePending(m) {
    if (!m.client_id || m.user_id !== ME) return;
    const p = pendings.get(m.client_id);
    if (p) {
      clearTimeout(p.timer);
      pendings.delete(m.client_id);
      p.li.remove();
    }
  }

  // insertMessage puts m in sequence order; it reports whether m was new.
  function insertMessage(m) {
    if (!validMessage(m)) return false;
    resolvePending(m);
    if (state.nodes.has(m.seq)) return false;
    const li = renderMessage(m);
    let prev = el.list.lastElementChild;
    while (prev && Number(prev.dataset.seq) > m.seq) prev = prev.previousElementSibling;
    if (prev) prev.after(li); else el.list.prepend(li);
    state.nodes.set(m.seq, li);
    if (!state.oldestSeq || m.seq < state.oldestSeq) state.oldestSeq = m.seq;
    return true;
  }

  // prependHistory adds a page of older messages (oldest first) above the
  // ones shown, in one DOM operation.
  function prependHistory(msgs) {
    const first = el.list.firstElementChild;
    const firstSeq = first ? Number(first.dataset.seq) : Infinity;
    const frag = document.createDocumentFragment();
    const later = [];
    for (const m of msgs) {
      if (!validMessage(m) || state.nodes.has(m.seq)) continue;
      if (m.seq > firstSeq) { later.push(m); continue; }
      const li = renderMessage(m);
      state.nodes.set(m.seq, li);
      frag.append(li);
      if (!state.oldestSeq || m.seq < state.oldestSeq) state.oldestSeq = m.seq;
    }
    el.list.prepend(frag);
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
    state.hasMore = true;
    updateHistoryBar();
    scrollToBottom();
  }

  function announce(m) {
    const text = typeof m.text === 'string' ? m.text : '';
    const line = node('p', null, `${m.user_name || m.user_id}: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`);
    el.announcer.append(line);
    while (el.announcer.childElementCount > 5) el.announcer.firstElementChild.remove();
  }

  // A message arrived on the stream, or as the answer to our own send.
  function showNew(m, live) {
    const pinned = isPinned();
    if (!insertMessage(m)) return;
    const mine = m.user_id === ME;
    if (pinned || (mine && !live)) scrollToBottom();
    else el.pill.hidden = false;
    if (live && !mine) {
      announce(m);
      if (state.sound) beep();
    }
    if (m.file) scheduleInfoRefresh();
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
      setBanner('Offline — reconnecting…');
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
      // Our own "came online" event may have been sent before this
      // stream was registered, and the room info may predate our join:
      // show ourselves online now, and fetch names and presence again
      // once the join has been recorded.
      markSelfOnline();
      renderParticipants();
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
      renderParticipants();
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
        if (info.code === 'forbidden') { stop(info.error || 'You no longer have permission to view this room.'); return; }
        if (info.code === 'unauthenticated') { stop(info.error || 'Your login has ended; log in again to use the chat.'); return; }
        if (info.code === 'not_found') { stop(info.error || 'This room no longer exists.'); return; }
        setBanner('Chat unavailable — reconnecting…');
        return; // the EventSource reconnects by itself
      }
      // CLOSED means the EventSource gave up (an HTTP error answer);
      // CONNECTING means it retries by itself, usually within seconds:
      // the banner waits a moment so a routine reconnect does not flash.
      if (es.readyState === EventSource.CLOSED) {
        setBanner('Offline — reconnecting…');
        scheduleReconnect();
      } else if (!state.offlineTimer) {
        state.offlineTimer = setTimeout(() => {
          state.offlineTimer = 0;
          if (!state.stopped && (!state.es || state.es.readyState !== EventSource.OPEN)) setBanner('Offline — reconnecting…');
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
    renderInfo(r.data || {});
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
      // The stream outlived the outage.
      setBanner('');
      return;
    }
    if (!state.es || state.es.readyState === EventSource.CLOSED) {
      state.retryDelay = RETRY_MIN;
      reconnectNow();
    }
  });
  window.addEventListener('offline', () => {
    if (!state.stopped) setBanner('Offline — reconnecting…');
  });

  // ---- sending ----

  function renderPending(p) {
    const li = node('li', 'msg pending');
    const head = node('div', 'msg-head');
    p.status = node('span', 'msg-time', 'sending…');
    p.actions = node('span', 'msg-actions');
    head.append(node('span', 'msg-author', 'You'), p.status, p.actions);
    li.append(head, node('div', 'msg-body', p.text));
    return li;
  }

  function submit() {
    if (state.stopped) return;
    const text = el.input.value;
    if (text.trim() === '') return;
    el.input.value = '';
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
    p.li.classList.remove('failed');
    p.actions.replaceChildren();
    p.status.textContent = p.attempt > 1 ? 'sending… (retrying)' : 'sending…';
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
    if (resp.status === 401 || resp.status === 403) {
      fail(p, (data && data.error) || 'not allowed');
      return;
    }
    fail(p, (data && data.error) || `error ${resp.status}`);
  }

  function retryLater(p, afterMs) {
    if (p.attempt >= SEND_ATTEMPTS) {
      fail(p, 'could not reach the chat');
      return;
    }
    const backoff = jitter(Math.min(RETRY_MIN * 2 ** (p.attempt - 1), RETRY_MAX));
    p.status.textContent = 'sending… (waiting to retry)';
    p.timer = setTimeout(() => post(p), Math.max(afterMs, backoff));
  }

  function fail(p, reason) {
    p.li.classList.add('failed');
    p.status.textContent = `not sent: ${reason}`;
    const retry = node('button', 'tool', 'Retry');
    retry.type = 'button';
    retry.addEventListener('click', () => { p.attempt = 0; post(p); });
    const discard = node('button', 'tool', 'Edit');
    discard.type = 'button';
    discard.title = 'Put the text back into the input';
    discard.addEventListener('click', () => {
      pendings.delete(p.id);
      p.li.remove();
      if (el.input.value.trim() === '') el.input.value = p.text;
      el.input.focus();
    });
    p.actions.replaceChildren(retry, discard);
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

  function uploadFailed(ui, file, clientId, reason) {
    ui.bar.remove();
    ui.label.textContent = `${file.name}: ${reason} `;
    ui.label.classList.add('error');
    const retry = node('button', 'tool', 'Retry');
    retry.type = 'button';
    retry.addEventListener('click', () => { ui.row.remove(); uploadFile(file, clientId); });
    const dismiss = node('button', 'tool', 'Dismiss');
    dismiss.type = 'button';
    dismiss.addEventListener('click', () => ui.row.remove());
    ui.row.append(retry, dismiss);
  }

  function uploadFile(file, clientId) {
    if (state.stopped) return;
    const id = clientId || newClientId();
    const ui = uploadRow(file);
    if (UPLOAD_LIMIT && file.size > UPLOAD_LIMIT) {
      uploadFailed(ui, file, id, `too large (the limit is ${formatSize(UPLOAD_LIMIT)})`);
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
      uploadFailed(ui, file, id, (data && data.error) || `error ${xhr.status}`);
    });
    xhr.addEventListener('error', () => uploadFailed(ui, file, id, 'network error'));
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
    if (!hasFiles(ev) || state.stopped) return;
    ev.preventDefault();
    el.messages.classList.add('dragging');
    el.dropHint.hidden = false;
  });
  el.messages.addEventListener('dragover', (ev) => {
    if (!hasFiles(ev) || state.stopped) return;
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

  function renderParticipants() {
    const people = Array.from(state.participants.values());
    people.sort((a, b) => (b.online === true) - (a.online === true) ||
      String(a.display_name || a.user_id).localeCompare(String(b.display_name || b.user_id)));
    const items = people.map((p) => {
      const li = node('li');
      const dot = node('span', p.online ? 'dot online' : 'dot');
      dot.setAttribute('aria-hidden', 'true');
      li.append(dot, node('span', null, p.display_name || p.user_id), node('span', 'visually-hidden', p.online ? ' (online)' : ' (offline)'));
      if (p.last_seen) {
        const d = new Date(p.last_seen);
        if (!Number.isNaN(d.getTime())) li.title = `Last seen ${fullFmt.format(d)}`;
      }
      return li;
    });
    el.participants.replaceChildren(...items);
  }

  // markSelfOnline shows the viewer as online while their stream is open:
  // having the popup connected is what being online means.
  function markSelfOnline() {
    if (!ME || !state.es || state.es.readyState !== EventSource.OPEN) return;
    const known = state.participants.get(ME) || { user_id: ME };
    state.participants.set(ME, Object.assign({}, known, { online: true }));
  }

  function renderInfo(info) {
    if (Array.isArray(info.participants)) {
      state.participants.clear();
      for (const p of info.participants) if (p && typeof p.user_id === 'string') state.participants.set(p.user_id, p);
      markSelfOnline();
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

  async function loadInfo() {
    try {
      const r = await getJSON(API);
      if (r.ok) {
        renderInfo(r.data || {});
        emit('info', r.data || {});
      }
      else stopFor(r.status, r.data);
    } catch (_) { /* the stream's reconnect reports the outage */ }
  }

  // Refresh the panel at most every two seconds, e.g. after uploads.
  function scheduleInfoRefresh() {
    if (state.infoTimer) return;
    state.infoTimer = setTimeout(() => {
      state.infoTimer = 0;
      loadInfo();
    }, 2000);
  }

  el.infoToggle.addEventListener('click', () => {
    const open = body.classList.toggle('info-open');
    el.infoToggle.setAttribute('aria-expanded', String(open));
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
    try { sound = localStorage.getItem(SOUND_KEY) === '1'; } catch (_) { /* storage disabled */ }
    setSound(sound);
    loadInfo();
    loadInitial().then((ok) => {
      if (ok) emit('ready');
      if (ok) openStream();
      else if (!state.stopped) scheduleReconnect();
    });
    el.input.focus();
  })();
})();
