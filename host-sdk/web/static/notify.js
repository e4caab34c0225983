// pagechat popup extension: mentions, unread markers and watching.
//
// Loaded after chat.js and built only on its window.pagechat seam:
//   - marks messages that mention the viewer (the plugin's HTML marks every
//     mention with <span class="mention" data-user-id>; the viewer's own get
//     the class "you"),
//   - gives every message an id "m-SEQ", so links from notifications land
//     on it, and highlights the message the URL's #m-SEQ names,
//   - draws a "New messages" line above the first message after the read
//     marker and opens the room there,
//   - moves the read marker (POST …/read) while the window is visible and
//     scrolled to the bottom, at most once a second,
//   - offers a Watch toggle (PUT/DELETE …/watch),
//   - completes @names from …/mentionable while typing.
// The tab title's unread count belongs to chat.js.
'use strict';

(() => {
  const pc = window.pagechat;
  if (!pc) return;
  const ME = pc.me;
  const READ_EVERY = 1000; // ms between marker reports
  const COMPLETE_DELAY = 120; // ms of typing pause before asking for names

  const messages = document.getElementById('messages');
  const list = document.getElementById('message-list');
  const input = document.getElementById('input');
  const composer = document.getElementById('composer');
  const actions = document.querySelector('.topbar-actions');

  // Our stylesheet, from the same static folder as chat.css.
  const prefix = pc.apiBase.slice(0, pc.apiBase.lastIndexOf('api/rooms/'));
  const css = document.createElement('link');
  css.rel = 'stylesheet';
  css.href = prefix + 'static/notify.css';
  document.head.append(css);

  const state = {
    lastRead: null,    // the marker when the popup opened; null until known
    reported: 0,       // the highest marker sent or known
    maxSeq: 0,         // the newest message shown
    divider: null,     // the "New messages" <li>
    ready: false,
    placed: false,     // divider placed and the view positioned
    readTimer: 0,
    lastReport: 0,
  };

  // ---- messages: ids, mentions ----

  pc.on('message', (li, m) => {
    li.id = 'm-' + m.seq;
    li.dataset.pcUser = m.user_id || '';
    if (m.seq > state.maxSeq) state.maxSeq = m.seq;
    const mine = Array.isArray(m.mentions) && m.mentions.includes(ME);
    if (mine || m.mentions_room) li.classList.add('msg-mentions-me');
    for (const span of li.querySelectorAll('.mention')) {
      if (span.dataset.userId === ME || span.dataset.room) span.classList.add('you');
    }
    if (state.ready) scheduleRead();
  });

  // ---- the "New messages" line and #m-SEQ ----

  function targetSeq() {
    const mt = /^#m-(\d{1,20})$/.exec(location.hash);
    return mt ? Number(mt[1]) : 0;
  }

  function firstUnread() {
    for (const li of list.children) {
      const seq = Number(li.dataset.seq);
      if (seq > state.lastRead && li.dataset.pcUser !== ME) return li;
    }
    return null;
  }

  function placeDivider() {
    if (state.placed || !state.ready || state.lastRead === null) return;
    state.placed = true;
    const first = state.lastRead < state.maxSeq ? firstUnread() : null;
    if (first) {
      const d = document.createElement('li');
      d.className = 'unread-divider';
      d.setAttribute('role', 'separator');
      d.textContent = 'New messages';
      first.before(d);
      state.divider = d;
    }
    if (targetSeq()) {
      showTarget(targetSeq(), 0);
    } else if (state.divider) {
      messages.scrollTop = Math.max(0, state.divider.offsetTop - 8);
    }
    scheduleRead();
  }

  // showTarget scrolls to and highlights message seq, loading older
  // history (by scrolling to the top, which chat.js answers) until it is
  // shown or the room has nothing older.
  function showTarget(seq, tries) {
    const li = pc.nodeFor(seq);
    if (li) {
      for (const old of list.querySelectorAll('.msg-target')) old.classList.remove('msg-target');
      li.classList.add('msg-target');
      li.scrollIntoView({ block: 'center' });
      return;
    }
    const oldest = list.querySelector('li[data-seq]');
    if (tries >= 40 || !oldest || Number(oldest.dataset.seq) <= seq || seq > state.maxSeq) return;
    messages.scrollTop = 0;
    setTimeout(() => showTarget(seq, tries + 1), 250);
  }

  window.addEventListener('hashchange', () => { if (targetSeq()) showTarget(targetSeq(), 0); });

  pc.on('ready', () => { state.ready = true; placeDivider(); });

  // ---- room info: marker and watch state ----

  const watch = document.createElement('button');
  watch.type = 'button';
  watch.id = 'watch-toggle';
  watch.className = 'tool';
  watch.title = 'Get a notification when there is new activity here';
  watch.hidden = true;
  if (actions) actions.prepend(watch);

  function showWatching(on) {
    watch.hidden = false;
    watch.setAttribute('aria-pressed', on ? 'true' : 'false');
    watch.textContent = on ? 'Watching' : 'Watch';
  }

  pc.on('info', (info) => {
    if (typeof info.watching === 'boolean') showWatching(info.watching);
    if (state.lastRead === null && Number.isSafeInteger(info.last_read)) {
      state.lastRead = info.last_read;
      state.reported = Math.max(state.reported, info.last_read);
      placeDivider();
    }
  });

  watch.addEventListener('click', async () => {
    const on = watch.getAttribute('aria-pressed') !== 'true';
    watch.disabled = true;
    try {
      const r = await pc.api(on ? 'PUT' : 'DELETE', '/watch');
      if (r.ok && r.data) showWatching(!!r.data.watching);
    } finally {
      watch.disabled = false;
    }
  });

  // ---- moving the read marker ----

  function atBottom() {
    return messages.scrollHeight - messages.scrollTop - messages.clientHeight <= 48;
  }

  function scheduleRead() {
    if (state.readTimer || !state.placed) return;
    const wait = Math.max(0, state.lastReport + READ_EVERY - Date.now());
    state.readTimer = setTimeout(reportRead, wait);
  }

  async function reportRead() {
    state.readTimer = 0;
    if (document.visibilityState !== 'visible' || !atBottom() || state.maxSeq <= state.reported) return;
    const seq = state.maxSeq;
    state.lastReport = Date.now();
    const r = await pc.api('POST', '/read', { seq });
    if (r.ok) state.reported = Math.max(state.reported, seq);
  }

  messages.addEventListener('scroll', () => scheduleRead(), { passive: true });
  document.addEventListener('visibilitychange', () => scheduleRead());

  // ---- @name completion ----

  const box = document.createElement('ul');
  box.id = 'mention-list';
  box.className = 'mention-list';
  box.setAttribute('role', 'listbox');
  box.setAttribute('aria-label', 'People to mention');
  box.hidden = true;
  composer.append(box);
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', 'mention-list');

  const comp = { items: [], active: 0, start: -1, timer: 0, asked: '' };

  // tokenAtCaret returns the @word being typed: its start and text.
  function tokenAtCaret() {
    const caret = input.selectionStart;
    if (caret !== input.selectionEnd) return null;
    const before = input.value.slice(0, caret);
    const mt = /(^|[^\p{L}\p{N}_.\-@/\\])@([\p{L}\p{N}_.\-]{0,64})$/u.exec(before);
    if (!mt) return null;
    return { start: caret - mt[2].length - 1, text: mt[2] };
  }

  function closeBox() {
    box.hidden = true;
    box.replaceChildren();
    comp.items = [];
    input.removeAttribute('aria-activedescendant');
  }

  function render() {
    box.replaceChildren();
    comp.items.forEach((u, i) => {
      const li = document.createElement('li');
      li.id = 'mention-opt-' + i;
      li.setAttribute('role', 'option');
      li.className = 'mention-option';
      li.setAttribute('aria-selected', i === comp.active ? 'true' : 'false');
      const name = document.createElement('span');
      name.className = 'mention-name';
      name.textContent = u.display_name || u.user_id;
      const id = document.createElement('span');
      id.className = 'mention-id';
      id.textContent = '@' + u.user_id;
      li.append(name, ' ', id);
      li.addEventListener('mousedown', (ev) => { ev.preventDefault(); choose(i); });
      box.append(li);
    });
    box.hidden = comp.items.length === 0;
    if (comp.items.length) input.setAttribute('aria-activedescendant', 'mention-opt-' + comp.active);
  }

  function choose(i) {
    const u = comp.items[i];
    if (!u || comp.start < 0) return;
    const caret = input.selectionStart;
    const insert = '@' + u.user_id + ' ';
    input.value = input.value.slice(0, comp.start) + insert + input.value.slice(caret);
    const pos = comp.start + insert.length;
    input.setSelectionRange(pos, pos);
    closeBox();
    input.focus();
  }

  async function ask(tok) {
    comp.asked = tok.text;
    const r = await pc.api('GET', '/mentionable?q=' + encodeURIComponent(tok.text));
    const now = tokenAtCaret();
    if (!now || now.text !== tok.text) return; // typed on meanwhile
    comp.items = r.ok && r.data && Array.isArray(r.data.users) ? r.data.users.filter((u) => u.user_id !== ME) : [];
    comp.active = 0;
    comp.start = tok.start;
    render();
  }

  input.addEventListener('input', () => {
    clearTimeout(comp.timer);
    const tok = tokenAtCaret();
    if (!tok) { closeBox(); return; }
    comp.timer = setTimeout(() => ask(tok), COMPLETE_DELAY);
  });
  input.addEventListener('blur', () => setTimeout(closeBox, 100));

  // Capture on the form, so these keys reach the list before chat.js's
  // Enter-sends handler on the textarea.
  composer.addEventListener('keydown', (ev) => {
    if (box.hidden || ev.target !== input || !comp.items.length) return;
    const n = comp.items.length;
    switch (ev.key) {
      case 'ArrowDown': comp.active = (comp.active + 1) % n; render(); break;
      case 'ArrowUp': comp.active = (comp.active + n - 1) % n; render(); break;
      case 'Enter':
      case 'Tab':
        if (ev.shiftKey || ev.isComposing) return;
        choose(comp.active);
        break;
      case 'Escape': closeBox(); break;
      default: return;
    }
    ev.preventDefault();
    ev.stopPropagation();
  }, { capture: true });
})();
