// pagechat popup: the message lifecycle and moderation.
//
// Loaded after chat.js and built only on its window.pagechat seam. It
// adds Edit and Delete to messages (for the author within the edit window,
// Delete for moderators always), applies the stream's edit, delete and
// topic events in place, shows the room topic in the header, and gives
// moderators a panel with the topic editor, kick and ban, and the ban list
// with unban. The room info says what the viewer may do (can_post,
// can_moderate, edit_window_seconds), so only what will succeed is
// offered; the server decides all the same.
//
// Message HTML comes from the server, rendered by the plugin's allow-list
// renderer, and is inserted as is, as chat.js does; every other string is
// set with textContent.
'use strict';

(() => {
  const pc = window.pagechat;
  if (!pc) return;
  const ME = pc.me;
  const node = pc.node;

  const REFRESH_TOOLS_MS = 30000; // re-check which messages are still in the edit window
  const BAN_DURATIONS = [
    ['3600', 'for 1 hour'],
    ['86400', 'for 1 day'],
    ['604800', 'for 1 week'],
    ['', 'until lifted'],
  ];

  const msgs = new Map();  // seq -> the plain message as last known
  const names = new Map(); // user_id -> display name
  const rights = { post: false, moderate: false, windowMs: 0 };
  let topic = '';

  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
  const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

  function fmt(iso, f) {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? '' : (f || timeFmt).format(d);
  }

  function nameOf(id) { return names.get(id) || id || '?'; }

  function button(text, label, onClick) {
    const b = node('button', 'tool', text);
    b.type = 'button';
    if (label) b.setAttribute('aria-label', label);
    b.addEventListener('click', onClick);
    return b;
  }

  // ---- messages ----

  function inWindow(m) {
    if (rights.windowMs <= 0) return false;
    const sent = new Date(m.sent_at).getTime();
    return Number.isFinite(sent) && Date.now() - sent < rights.windowMs;
  }

  function head(li) { return li.querySelector('.msg-head'); }
  function bodyOf(li) { return li.querySelector('.msg-body'); }

  // The "(edited)" mark and the tools live in the message itself, not in
  // its head: a message grouped under the one before hides its head.
  function markEdited(li, iso) {
    if (!iso) return;
    let tag = li.querySelector('.msg-edited');
    if (!tag) {
      tag = node('span', 'msg-edited');
      const b = bodyOf(li);
      if (b) b.after(tag); else li.append(tag);
    }
    tag.textContent = `(edited ${fmt(iso)})`;
    tag.title = `Edited ${fmt(iso, fullFmt)}`;
  }

  function showDeleted(li, m) {
    li.classList.add('deleted');
    const b = bodyOf(li);
    if (b) {
      const note = node('em', 'msg-deleted', 'message deleted');
      b.replaceChildren(note);
      // Who deleted what is for moderators to see.
      if (rights.moderate && m.deleted_by) b.append(node('span', 'msg-deleted-by', ` by ${nameOf(m.deleted_by)}`));
    }
    li.querySelectorAll('.msg-tools, .msg-edited').forEach((n) => n.remove());
  }

  function decorate(li, m) {
    if (!li) return;
    if (m.deleted) {
      showDeleted(li, m);
      return;
    }
    if (m.edited_at) markEdited(li, m.edited_at);
    tools(li, m);
  }

  // tools gives li the buttons m allows now. Buttons that are already right
  // stay: the refresh below runs on every room update and every half
  // minute, and new buttons would take the keyboard focus and a click in
  // progress away from the old ones.
  function tools(li, m) {
    const old = li.querySelector('.msg-tools');
    const mine = m.user_id === ME;
    const open = mine && inWindow(m);
    const shown = !m.deleted && !li.classList.contains('editing');
    const canEdit = shown && open && rights.post;
    const canDelete = shown && (open || rights.moderate);
    const when = fmt(m.sent_at);
    const whose = mine ? 'your message' : `the message by ${m.user_name || nameOf(m.user_id)}`;
    const want = canEdit || canDelete ? `${canEdit} ${canDelete} ${whose} ${when}` : '';
    if (old && old.dataset.tools === want && old.pcHandlers) {
      old.pcHandlers.m = m; // the buttons act on the message as it is now
      return;
    }
    if (old) old.remove();
    if (!want) return;
    const handlers = { m };
    const box = node('span', 'msg-tools');
    box.dataset.tools = want;
    box.pcHandlers = handlers;
    if (canEdit) box.append(button('Edit', `Edit ${whose} from ${when}`, () => startEdit(li, handlers.m)));
    if (canDelete) box.append(button('Delete', `Delete ${whose} from ${when}`, () => remove(li, handlers.m)));
    li.append(box);
  }

  function problem(li, text) {
    const h = head(li);
    if (!h) return;
    let p = li.querySelector('.msg-problem');
    if (!p) {
      p = node('p', 'msg-problem');
      p.setAttribute('role', 'alert');
      li.append(p);
    }
    p.textContent = text;
  }

  function clearProblem(li) {
    const p = li.querySelector('.msg-problem');
    if (p) p.remove();
  }

  function startEdit(li, m) {
    const b = bodyOf(li);
    if (!b || li.classList.contains('editing')) return;
    clearProblem(li);
    li.classList.add('editing');
    const kept = Array.from(b.childNodes);
    const form = node('form', 'msg-edit');
    const area = node('textarea');
    area.value = m.text || '';
    area.rows = Math.min(8, Math.max(2, area.value.split('\n').length));
    area.setAttribute('aria-label', 'Edit message: Enter saves, Escape cancels');
    const save = node('button', 'primary', 'Save');
    save.type = 'submit';
    const cancel = button('Cancel', null, () => done());
    form.append(area, save, cancel);
    b.replaceChildren(form);
    tools(li, m);
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);

    function done() {
      li.classList.remove('editing');
      if (b.contains(form)) b.replaceChildren(...kept);
      decorate(li, msgs.get(m.seq) || m);
      const t = li.querySelector('.msg-tools button');
      if (t) t.focus();
    }
    area.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        ev.preventDefault();
        done();
      } else if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const text = area.value;
      if (text.trim() === '' || text === m.text) {
        done();
        return;
      }
      save.disabled = true;
      let r;
      try {
        r = await pc.api('PATCH', `/messages/${m.seq}`, { text });
      } catch (_) {
        r = { ok: false, data: { error: 'could not reach the chat' } };
      }
      save.disabled = false;
      if (!r.ok) {
        problem(li, `Not saved: ${(r.data && r.data.error) || `error ${r.status}`}`);
        return;
      }
      li.classList.remove('editing');
      b.replaceChildren(...kept);
      applyEdit(r.data.event);
      clearProblem(li);
    });
  }

  async function remove(li, m) {
    const mine = m.user_id === ME;
    if (!window.confirm(mine ? 'Delete your message? Nobody will be able to read it again.' : `Delete the message by ${m.user_name || nameOf(m.user_id)}?`)) return;
    let r;
    try {
      r = await pc.api('DELETE', `/messages/${m.seq}`);
    } catch (_) {
      r = { ok: false, data: { error: 'could not reach the chat' } };
    }
    if (!r.ok) {
      problem(li, `Not deleted: ${(r.data && r.data.error) || `error ${r.status}`}`);
      return;
    }
    clearProblem(li);
    applyDelete(r.data.event);
  }

  // ---- events from the stream (and our own answers) ----

  function applyEdit(ev) {
    if (!ev || !ev.target) return;
    const m = msgs.get(ev.target);
    const li = pc.nodeFor(ev.target);
    if (m) {
      m.edited_at = ev.sent_at;
      // An erased edit was superseded by a later change, which follows.
      if (!ev.erased) {
        m.text = ev.text;
        m.html = ev.html;
      }
    }
    if (!li || (m && m.deleted)) return;
    if (!ev.erased && !li.classList.contains('editing')) {
      const b = bodyOf(li);
      // Safe HTML rendered by the plugin's allow-list renderer.
      if (b) b.innerHTML = typeof ev.html === 'string' ? ev.html : '';
    }
    markEdited(li, ev.sent_at);
  }

  function applyDelete(ev) {
    if (!ev || !ev.target) return;
    learn(ev.user_id, ev.user_name);
    const m = msgs.get(ev.target) || { seq: ev.target };
    Object.assign(m, { deleted: true, deleted_by: ev.user_id, text: '', html: '', file: undefined });
    msgs.set(ev.target, m);
    const li = pc.nodeFor(ev.target);
    if (li) {
      li.classList.remove('editing');
      showDeleted(li, m);
    }
  }

  // ---- topic ----

  const topicLine = node('p', 'room-topic');
  topicLine.id = 'room-topic';
  topicLine.hidden = true;
  const title = document.querySelector('.topbar .room-title');
  if (title) title.after(topicLine);

  function showTopic(text) {
    topic = text || '';
    topicLine.textContent = topic;
    topicLine.title = topic ? `Topic: ${topic}` : '';
    topicLine.hidden = !topic;
    if (topicInput && document.activeElement !== topicInput) topicInput.value = topic;
  }

  // ---- moderators' panel ----

  let panel = null;
  let topicInput = null;
  let userSelect = null;
  let bansList = null;
  let bansEmpty = null;
  let modStatus = null;

  function status(text) { if (modStatus) modStatus.textContent = text; }

  function buildPanel() {
    const info = document.getElementById('info');
    if (!info || panel) return;
    panel = node('section', 'moderation');
    panel.id = 'moderation';
    panel.setAttribute('aria-labelledby', 'moderation-title');
    const h = node('h2', null, 'Moderation');
    h.id = 'moderation-title';

    const topicForm = node('form', 'mod-form');
    topicInput = node('input');
    topicInput.id = 'topic-input';
    topicInput.maxLength = 500;
    topicInput.value = topic;
    const topicLabel = node('label', null, 'Topic');
    topicLabel.htmlFor = topicInput.id;
    const topicSave = node('button', 'tool', 'Set topic');
    topicSave.type = 'submit';
    topicForm.append(topicLabel, topicInput, topicSave);
    topicForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const r = await pc.api('PUT', '/topic', { topic: topicInput.value });
      if (r.ok) {
        showTopic(r.data.event.text);
        status(topic ? 'Topic set.' : 'Topic cleared.');
      } else {
        status(`Topic not set: ${(r.data && r.data.error) || r.status}`);
      }
    });

    const userForm = node('form', 'mod-form');
    userSelect = node('select');
    userSelect.id = 'mod-user';
    const userLabel = node('label', null, 'Person');
    userLabel.htmlFor = userSelect.id;
    const reason = node('input');
    reason.id = 'mod-reason';
    reason.maxLength = 500;
    const reasonLabel = node('label', null, 'Reason (optional)');
    reasonLabel.htmlFor = reason.id;
    const duration = node('select');
    duration.id = 'mod-duration';
    for (const [value, text] of BAN_DURATIONS) {
      const o = node('option', null, text);
      o.value = value;
      duration.append(o);
    }
    duration.value = '86400';
    const durationLabel = node('label', null, 'Ban');
    durationLabel.htmlFor = duration.id;
    const kick = button('Kick', 'Kick: end their chat now; they may come back', async () => {
      if (!userSelect.value) return;
      const who = nameOf(userSelect.value);
      const r = await pc.api('POST', '/kick', { user_id: userSelect.value, reason: reason.value });
      status(r.ok ? `${who} was kicked.` : `Not kicked: ${(r.data && r.data.error) || r.status}`);
    });
    const ban = button('Ban', 'Ban: keep them out of this room', async () => {
      if (!userSelect.value) return;
      const who = nameOf(userSelect.value);
      const body = { user_id: userSelect.value, reason: reason.value };
      if (duration.value) body.expires = new Date(Date.now() + Number(duration.value) * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
      const r = await pc.api('POST', '/bans', body);
      status(r.ok ? `${who} was banned.` : `Not banned: ${(r.data && r.data.error) || r.status}`);
      if (r.ok) loadBans();
    });
    userForm.append(userLabel, userSelect, reasonLabel, reason, durationLabel, duration, kick, ban);
    userForm.addEventListener('submit', (ev) => ev.preventDefault());

    const bansTitle = node('h3', null, 'Bans');
    bansList = node('ul', 'bans');
    bansList.id = 'bans';
    bansEmpty = node('p', 'muted', 'Nobody is banned.');
    modStatus = node('p', 'mod-status');
    modStatus.setAttribute('role', 'status');
    panel.append(h, topicForm, userForm, modStatus, bansTitle, bansList, bansEmpty);
    info.prepend(panel);
  }

  // learn remembers a user's name from anything that carries it, and keeps
  // the moderators' person list in step: participants, authors, presence.
  function learn(id, name) {
    if (!id) return;
    const known = names.get(id);
    if (known && (!name || known === name)) return;
    names.set(id, name || known || id);
    fillUsers();
  }

  function fillUsers() {
    if (!userSelect) return;
    const keep = userSelect.value;
    const none = node('option', null, 'Choose someone…');
    none.value = '';
    const people = Array.from(names.entries()).filter(([id]) => id !== ME)
      .sort((a, b) => a[1].localeCompare(b[1]));
    userSelect.replaceChildren(none, ...people.map(([id, name]) => {
      const o = node('option', null, name);
      o.value = id;
      return o;
    }));
    userSelect.value = names.has(keep) ? keep : '';
  }

  async function loadBans() {
    if (!rights.moderate || !bansList) return;
    const r = await pc.api('GET', '/bans');
    if (!r.ok) return;
    const bans = (r.data && Array.isArray(r.data.bans)) ? r.data.bans : [];
    bansList.replaceChildren(...bans.map((b) => {
      const li = node('li');
      const who = nameOf(b.user_id);
      let text = who;
      text += b.expires ? ` until ${fmt(b.expires, fullFmt)}` : ' until lifted';
      if (b.reason) text += ` — ${b.reason}`;
      if (b.banned_by) text += ` (by ${nameOf(b.banned_by)})`;
      li.append(node('span', 'ban-text', text), button('Unban', `Unban ${who}`, async () => {
        const res = await pc.api('DELETE', `/bans/${encodeURIComponent(b.user_id)}`);
        status(res.ok ? `${who} may come back.` : `Not unbanned: ${(res.data && res.data.error) || res.status}`);
        loadBans();
      }));
      return li;
    }));
    bansEmpty.hidden = bans.length > 0;
  }

  // ---- wiring ----

  pc.on('message', (li, m) => {
    if (!m || m.kind) return;
    learn(m.user_id, m.user_name);
    msgs.set(m.seq, Object.assign({}, m));
    decorate(li, m);
  });

  pc.on('info', (info) => {
    rights.post = !!info.can_post;
    rights.moderate = !!info.can_moderate;
    rights.windowMs = Math.max(0, Number(info.edit_window_seconds) || 0) * 1000;
    const people = Array.isArray(info.participants) ? info.participants : [];
    if (rights.moderate) buildPanel();
    for (const p of people) if (p) learn(p.user_id, p.display_name);
    showTopic(info.topic);
    if (rights.moderate) {
      fillUsers();
      loadBans();
    }
    redecorate();
  });

  function redecorate() {
    for (const [seq, m] of msgs) decorate(pc.nodeFor(seq), m);
  }
  setInterval(redecorate, REFRESH_TOOLS_MS);

  pc.onStream('edit', applyEdit);
  pc.onStream('delete', applyDelete);
  pc.onStream('topic', (ev) => showTopic(ev && ev.text));
  pc.onStream('presence', (p) => { if (p) learn(p.user_id, p.display_name); });
  pc.onStream('moderation', () => { if (rights.moderate) loadBans(); });
  pc.onStream('error', (e) => {
    if (!e) return;
    if (e.code === 'banned') {
      pc.stop(e.error || 'You are banned from this room.');
      document.body.classList.add('removed');
    } else if (e.code === 'kicked') {
      pc.stop(e.error || 'A moderator removed you from this room.');
      document.body.classList.add('removed');
      const banner = document.getElementById('banner');
      if (banner) banner.append(' ', button('Rejoin', 'Rejoin the room', () => window.location.reload()));
    }
  });
})();
