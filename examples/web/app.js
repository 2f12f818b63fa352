/*
 * app.js: the example web client.  It speaks only the client protocol
 * (man 7 chat-protocol): fetch() for the HTTP API on the page's own origin,
 * one WebSocket to the chat_url that login and discovery give.
 *
 * The state is a handful of maps: friends (user -> state, status,
 * last_active_at), groups, and conversations (a user name or a group id ->
 * messages in id order, the oldest id held for paging back, unread count).
 * Every message that arrives, live, in a sync or from history, goes through
 * one merge that drops duplicates by id, so a redelivery never shows twice.
 * The newest id held is the "since" of a reconnect: after a drop the server
 * sends exactly what was missed.  Sends not yet acknowledged are kept and
 * sent again with the same cid after a reconnect (one message either way).
 *
 * User text only ever reaches the page through textContent.
 */
'use strict';

const HB_MS = 5000;		/* heartbeat_interval */
const TYPING_SEND_MS = 3000;	/* at most one typing notice this often */
const TYPING_SHOW_MS = 4000;	/* how long a typing notice stays up */
const PAGE = 30;		/* history page */
const FRIENDS_POLL_MS = 10000;	/* friend requests have no live frame */
const PROBE_MS = 20000;		/* this long without a frame: ask something */
const DEAD_MS = 35000;		/* and this long: the connection is dead */
const ZERO_ID = '0000000000000000';

const $ = (id) => document.getElementById(id);

/* Session: the token lives for the tab (sessionStorage survives a reload);
 * the device id is kept per user so a new login reuses its cursor. */
const store = {
	load() {
		try { return JSON.parse(sessionStorage.getItem('chat.session')); }
		catch (e) { return null; }
	},
	save(s) { sessionStorage.setItem('chat.session', JSON.stringify(s)); },
	clear() { sessionStorage.removeItem('chat.session'); },
	device(user) { return localStorage.getItem('chat.device.' + user); },
	setDevice(user, d) { localStorage.setItem('chat.device.' + user, d); },
};

let session = null;		/* {token, user, device, chat_url} */
const friends = new Map();	/* user -> {user, state, status, last_active_at} */
const groups = new Map();	/* gid -> {group, name, members?} */
const convs = new Map();	/* conv -> conversation, see conv() */
let current = null;		/* the open conversation's key */
let newestId = null;		/* newest message id this page holds */

/* ---------- HTTP API ---------- */

class ApiError extends Error {
	constructor(status, code, message) {
		super(message || code);
		this.status = status;
		this.code = code;
	}
}

async function api(method, path, body) {
	const headers = {};
	const opts = { method, headers };
	if (session && session.token)
		headers.Authorization = 'Bearer ' + session.token;
	if (body !== undefined) {
		headers['Content-Type'] = 'application/json';
		opts.body = JSON.stringify(body);
	}
	let res;
	try {
		res = await fetch(path, opts);
	} catch (e) {
		throw new ApiError(0, 'network', 'the server cannot be reached');
	}
	let data = {};
	try { data = await res.json(); } catch (e) { /* empty body */ }
	if (!res.ok) {
		const err = data.error || {};
		if (res.status === 401 && session && path !== '/v1/login')
			setTimeout(() => logout(false, 'session expired: log in again'), 0);
		throw new ApiError(res.status, err.code || 'http_' + res.status,
		    err.message || res.statusText);
	}
	return data;
}

/* ---------- the WebSocket: auth, resume, heartbeats, reconnect ---------- */

const ws = {
	sock: null,
	state: 'down',		/* down, connecting, syncing, up */
	hb: null,
	retry: null,
	backoff: 0,
	wanted: false,		/* reconnect when it drops */
	firstSync: false,	/* a device that holds nothing is catching up */
	outbox: new Map(),	/* cid -> {frame, msg}: sent, no ack yet */
	lastRx: 0,		/* when the server last said anything */
	lastTyping: 0,
};

function setConn(state, text) {
	ws.state = state;
	const el = $('conn');
	el.dataset.state = state;
	el.textContent = text;
}

function wsSend(obj) {
	if (ws.sock && ws.sock.readyState === WebSocket.OPEN) {
		ws.sock.send(JSON.stringify(obj));
		return true;
	}
	return false;
}

async function connect() {
	clearTimeout(ws.retry);
	ws.retry = null;
	if (!session || (ws.sock && ws.sock.readyState <= WebSocket.OPEN))
		return;
	ws.wanted = true;
	setConn('connecting', 'connecting…');
	/* After a drop, ask again where to connect: the chatd we had may be
	 * gone and discovery names the best one now. */
	if (ws.backoff > 0) {
		try {
			const d = await api('GET', '/v1/discover');
			if (d.chat_url) {
				session.chat_url = d.chat_url;
				store.save(session);
			}
		} catch (e) {
			if (e.status === 401)
				return;
			scheduleReconnect();
			return;
		}
		if (!session || !ws.wanted)
			return;
	}
	let sock;
	try {
		sock = new WebSocket(session.chat_url);
	} catch (e) {
		scheduleReconnect();
		return;
	}
	ws.sock = sock;
	sock.onopen = () => {
		const auth = { type: 'auth', token: session.token };
		if (newestId)
			auth.since = newestId;
		sock.send(JSON.stringify(auth));
		setConn('syncing', 'syncing…');
		ws.lastRx = Date.now();
		clearInterval(ws.hb);
		ws.hb = setInterval(() => beat(sock), HB_MS);
	};
	sock.onmessage = (ev) => {
		ws.lastRx = Date.now();
		let f;
		try { f = JSON.parse(ev.data); } catch (e) { return; }
		onFrame(f);
	};
	sock.onclose = (ev) => {
		if (ws.sock !== sock)
			return;
		ws.sock = null;
		clearInterval(ws.hb);
		if (ev.code === 4003 || ev.code === 4001 && ws.state === 'syncing') {
			logout(false, 'session ended: log in again');
			return;
		}
		if (ev.code === 4002) {
			ws.wanted = false;
			setConn('down', 'this device connected elsewhere');
			return;
		}
		if (ws.wanted)
			scheduleReconnect();
		else
			setConn('down', 'offline');
	};
}

/* The heartbeat; and since a network that silently drops packets leaves
 * the socket looking open, a quiet server is asked for our own presence
 * (always answered), and given up on if even that gets no answer. */
function beat(sock) {
	if (ws.sock !== sock)
		return;
	wsSend({ type: 'hb' });
	const quiet = Date.now() - ws.lastRx;
	if (quiet > DEAD_MS) {
		ws.sock = null;
		clearInterval(ws.hb);
		sock.close();
		scheduleReconnect();
	} else if (quiet > PROBE_MS && ws.state === 'up') {
		wsSend({ type: 'presence', users: [session.user] });
	}
}

function scheduleReconnect() {
	if (!ws.wanted || ws.retry)
		return;
	ws.backoff = Math.min(ws.backoff ? ws.backoff * 2 : 500, 10000);
	const wait = ws.backoff / 2 + Math.random() * ws.backoff / 2;
	setConn('down', 'reconnecting in ' + Math.ceil(wait / 1000) + ' s…');
	ws.retry = setTimeout(connect, wait);
}

function disconnect() {
	ws.wanted = false;
	clearTimeout(ws.retry);
	ws.retry = null;
	clearInterval(ws.hb);
	if (ws.sock) {
		const s = ws.sock;
		ws.sock = null;
		if (s.readyState === WebSocket.OPEN)
			s.send(JSON.stringify({ type: 'bye' }));
		s.close(1000);
	}
	setConn('down', 'offline');
}

/* The browser says the network went away: close now rather than wait for
 * TCP to notice, and come back at once when it returns. */
window.addEventListener('offline', () => {
	if (!ws.sock)
		return;
	const s = ws.sock;
	ws.sock = null;
	clearInterval(ws.hb);
	s.close();
	if (ws.wanted) {
		ws.backoff = Math.max(ws.backoff, 500);
		scheduleReconnect();	/* in case "online" never comes */
		setConn('down', 'network down: waiting…');
	}
});
window.addEventListener('online', () => {
	if (session && ws.wanted && !ws.sock) {
		ws.backoff = Math.max(ws.backoff, 500);
		connect();	/* now, not at the next retry */
	}
});

function onFrame(f) {
	switch (f.type) {
	case 'ready':
		ws.firstSync = f.cursor === ZERO_ID && !newestId;
		if (session.device !== f.device) {
			session.device = f.device;
			store.save(session);
		}
		break;
	case 'synced':
		ws.backoff = 0;
		ws.firstSync = false;
		setConn('up', 'online');
		/* What was sent but never acknowledged goes again, same cid. */
		for (const { frame } of ws.outbox.values())
			wsSend(frame);
		if (newestId)
			wsSend({ type: 'recv', id: newestId });
		queryPresence();
		break;
	case 'msg':
		onMessage(f, ws.state === 'syncing');
		break;
	case 'ack':
		onAck(f);
		break;
	case 'presence':
		onPresence(f);
		break;
	case 'typing':
		onTyping(f);
		break;
	case 'error':
		onError(f);
		break;
	default:
		break;
	}
}

/* The friends' presence after a (re)connect; a group's on opening it. */
function queryPresence() {
	const users = [...friends.values()].filter((x) => x.state === 'friends')
	    .map((x) => x.user);
	if (users.length)
		wsSend({ type: 'presence', users });
	if (current && current.startsWith('g_'))
		wsSend({ type: 'presence', group: current });
}

/* ---------- conversations and messages ---------- */

function conv(key) {
	let c = convs.get(key);
	if (!c) {
		c = { key, isGroup: key.startsWith('g_'), msgs: [], ids: new Set(),
		    loaded: false, more: true, loading: false, unread: 0,
		    typing: new Map() };
		convs.set(key, c);
	}
	return c;
}

function convKey(m) {
	if (m.group)
		return m.group;
	return m.from === session.user ? m.to : m.from;
}

/* Inserts m into c in id order; false if it was already there. */
function merge(c, m) {
	if (!m.id || c.ids.has(m.id))
		return false;
	c.ids.add(m.id);
	let i = c.msgs.length;
	while (i > 0 && c.msgs[i - 1].id > m.id)
		i--;
	c.msgs.splice(i, 0, m);
	return true;
}

let recvTimer = null;
function noteHeld(id) {
	if (!newestId || id > newestId)
		newestId = id;
	/* The cursor follows at most once a second. */
	if (!recvTimer)
		recvTimer = setTimeout(() => {
			recvTimer = null;
			if (newestId && ws.state === 'up')
				wsSend({ type: 'recv', id: newestId });
		}, 1000);
}

function onMessage(m, syncing) {
	noteHeld(m.id);
	const key = convKey(m);
	if (!key)
		return;
	const c = conv(key);
	if (!merge(c, m))
		return;
	/* A group we do not know yet: someone added us. */
	const known = m.group && !groups.has(m.group) ? loadGroups() :
	    Promise.resolve();
	if (m.from !== session.user) {
		c.typing.delete(m.from);
		const seen = key === current && !document.hidden;
		if (!seen && !(syncing && ws.firstSync))
			c.unread++;
		if (document.hidden && !syncing)
			known.then(() => notify(m, key));
	}
	if (key === current)
		renderMessages(true);
	renderTyping();
	renderLists();
}

function onAck(a) {
	const p = ws.outbox.get(a.cid);
	if (!p)
		return;
	ws.outbox.delete(a.cid);
	/* Not a resume point: only what arrives in inbox order is (a message
	 * to us with a smaller id may still be on its way). */
	const m = Object.assign({}, p.msg, { id: a.id, ts: a.ts });
	delete m.pending;
	const key = convKey(m);
	const c = conv(key);
	c.pending = (c.pending || []).filter((x) => x.cid !== a.cid);
	merge(c, m);
	if (key === current)
		renderMessages(true);
}

function onError(e) {
	if (e.cid && ws.outbox.has(e.cid)) {
		const p = ws.outbox.get(e.cid);
		ws.outbox.delete(e.cid);
		p.msg.failed = e.code;
		if (convKey(p.msg) === current)
			renderMessages(false);
	}
	showError('conv-error', e.code + ': ' + (e.message || ''));
}

function send(body) {
	if (!current || !body)
		return;
	const cid = 'w' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
	const frame = { type: 'send', cid, body };
	const msg = { cid, from: session.user, body, pending: true };
	if (current.startsWith('g_')) {
		frame.group = current;
		msg.group = current;
	} else {
		frame.to = current;
		msg.to = current;
	}
	const c = conv(current);
	(c.pending = c.pending || []).push(msg);
	ws.outbox.set(cid, { frame, msg });
	wsSend(frame);		/* else it goes after the next sync */
	renderMessages(true);
}

/* History: the newest page on opening, then older pages as the list is
 * scrolled to its top (before = the oldest id held). */
async function loadOlder(key) {
	const c = conv(key);
	if (c.loading || (c.loaded && !c.more))
		return;
	c.loading = true;
	renderHistoryState(c);
	let q = '?limit=' + PAGE;
	if (c.loaded && c.msgs.length)
		q += '&before=' + c.msgs[0].id;
	try {
		const d = await api('GET', '/v1/conversations/' +
		    encodeURIComponent(key) + '/messages' + q);
		const box = $('messages');
		const fromBottom = box.scrollHeight - box.scrollTop;
		for (const m of d.messages)
			merge(c, m);	/* history never moves newestId */
		c.more = d.messages.length === PAGE;
		c.loaded = true;
		if (key === current) {
			renderMessages(false);
			box.scrollTop = box.scrollHeight - fromBottom;
		}
	} catch (e) {
		showError('conv-error', 'history: ' + e.message);
	} finally {
		c.loading = false;
		renderHistoryState(c);
	}
	/* A short first page may not fill the view: keep going. */
	const box = $('messages');
	if (key === current && c.more && box.scrollHeight <= box.clientHeight)
		loadOlder(key);
}

async function openConv(key) {
	current = key;
	const c = conv(key);
	c.unread = 0;
	$('conv-empty').hidden = true;
	$('conv-view').hidden = false;
	$('conv-error').textContent = '';
	$('compose-text').value = '';
	renderHead();
	renderMessages(true);
	renderTyping();
	renderLists();
	if (c.isGroup) {
		wsSend({ type: 'presence', group: key });
		try {
			const g = await api('GET', '/v1/groups/' + encodeURIComponent(key));
			groups.set(key, Object.assign(groups.get(key) || {}, g));
			if (current === key)
				renderHead();
		} catch (e) {
			showError('conv-error', e.message);
		}
	}
	if (!c.loaded)
		loadOlder(key);
	$('compose-text').focus();
}

/* ---------- presence, typing, notifications ---------- */

const memberPresence = new Map();	/* user -> presence frame */

function onPresence(p) {
	memberPresence.set(p.user, p);
	const f = friends.get(p.user);
	if (f) {
		f.status = p.status;
		f.last_active_at = p.last_active_at;
	}
	renderLists();
	if (current && (current === p.user || current.startsWith('g_')))
		renderHead();
}

function onTyping(t) {
	if (t.from === session.user)
		return;
	const key = t.group || t.from;
	const c = conv(key);
	clearTimeout(c.typing.get(t.from));
	c.typing.set(t.from, setTimeout(() => {
		c.typing.delete(t.from);
		renderTyping();
	}, TYPING_SHOW_MS));
	renderTyping();
}

function typed() {
	const now = Date.now();
	if (!current || now - ws.lastTyping < TYPING_SEND_MS)
		return;
	ws.lastTyping = now;
	wsSend(current.startsWith('g_') ? { type: 'typing', group: current } :
	    { type: 'typing', to: current });
}

function notify(m, key) {
	if (!('Notification' in window) || Notification.permission !== 'granted')
		return;
	const where = m.group ? ' in ' + groupName(m.group) : '';
	const n = new Notification(m.from + where, { body: m.body, tag: key });
	n.onclick = () => {
		window.focus();
		openConv(key);
		n.close();
	};
}

document.addEventListener('visibilitychange', () => {
	if (!document.hidden && current) {
		conv(current).unread = 0;
		renderLists();
	}
});

/* ---------- friends and groups ---------- */

async function loadFriends() {
	let d;
	try { d = await api('GET', '/v1/friends'); } catch (e) { return; }
	const before = new Set([...friends.values()]
	    .filter((x) => x.state === 'friends').map((x) => x.user));
	const seen = new Set();
	const fresh = [];
	for (const f of d.friends) {
		seen.add(f.user);
		const old = friends.get(f.user);
		/* A live presence frame is newer than a poll that crossed it. */
		if (old && old.state === 'friends' && f.state === 'friends' &&
		    (old.last_active_at || 0) > (f.last_active_at || 0)) {
			f.status = old.status;
			f.last_active_at = old.last_active_at;
		}
		friends.set(f.user, f);
		if (f.state === 'friends' && !before.has(f.user))
			fresh.push(f.user);
	}
	for (const u of [...friends.keys()])
		if (!seen.has(u))
			friends.delete(u);
	if (fresh.length && before.size)
		wsSend({ type: 'presence', users: fresh });
	renderLists();
}

async function loadGroups() {
	let d;
	try { d = await api('GET', '/v1/groups'); } catch (e) { return; }
	for (const g of d.groups)
		groups.set(g.group, Object.assign(groups.get(g.group) || {}, g));
	renderLists();
}

function groupName(gid) {
	const g = groups.get(gid);
	return g && g.name ? g.name : gid;
}

async function addFriend(user) {
	const r = await api('PUT', '/v1/friends/' + encodeURIComponent(user));
	await loadFriends();
	if (r.state === 'friends')
		wsSend({ type: 'presence', users: [r.user] });
	return r;
}

/* ---------- rendering ---------- */

function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls)
		e.className = cls;
	if (text !== undefined)
		e.textContent = text;
	return e;
}

function ago(ms) {
	const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
	if (s < 45)
		return 'just now';
	if (s < 90)
		return 'a minute ago';
	if (s < 3600)
		return Math.round(s / 60) + ' min ago';
	if (s < 86400)
		return Math.round(s / 3600) + ' h ago';
	const d = new Date(ms);
	return 'on ' + d.toLocaleDateString();
}

function seenText(status, at) {
	if (status === 'online')
		return 'online';
	return at ? 'last seen ' + ago(at) : 'offline';
}

function badge(n) {
	const b = el('span', 'badge', String(n));
	b.hidden = n === 0;
	return b;
}

function renderLists() {
	const ul = $('friends');
	ul.replaceChildren();
	const names = new Set(friends.keys());
	for (const k of convs.keys())
		if (!k.startsWith('g_'))
			names.add(k);
	const order = { friends: 0, pending: 1, requested: 2 };
	const list = [...names].sort((a, b) => {
		const fa = friends.get(a), fb = friends.get(b);
		const oa = fa ? order[fa.state] : 3, ob = fb ? order[fb.state] : 3;
		return oa - ob || a.localeCompare(b);
	});
	for (const u of list) {
		const f = friends.get(u) || { user: u, state: 'none' };
		const li = el('li', 'friend');
		li.dataset.user = u;
		li.dataset.state = f.state;
		if (u === current)
			li.classList.add('active');
		const online = f.state === 'friends' && f.status === 'online';
		const dot = el('span', 'dot' + (online ? ' online' : ''));
		dot.title = online ? 'online' : 'offline';
		const name = el('span', 'name', u);
		let sub;
		if (f.state === 'friends')
			sub = seenText(f.status, f.last_active_at);
		else if (f.state === 'requested')
			sub = 'request sent';
		else if (f.state === 'pending')
			sub = 'wants to be friends';
		else
			sub = 'not a friend';
		const info = el('span', 'info');
		info.append(name, el('span', 'seen', sub));
		li.append(dot, info, badge(conv(u).unread));
		if (f.state === 'pending') {
			const b = el('button', 'small accept', 'Accept');
			b.type = 'button';
			b.addEventListener('click', (ev) => {
				ev.stopPropagation();
				addFriend(u).catch((e) => showError('friend-error', e.message));
			});
			li.append(b);
		}
		li.addEventListener('click', () => openConv(u));
		ul.append(li);
	}
	if (!list.length)
		ul.append(el('li', 'hint', 'No friends yet: add one by name.'));

	const gl = $('groups');
	gl.replaceChildren();
	const gs = [...groups.values()].sort((a, b) =>
	    (a.name || '').localeCompare(b.name || ''));
	for (const g of gs) {
		const li = el('li', 'group');
		li.dataset.group = g.group;
		if (g.group === current)
			li.classList.add('active');
		const info = el('span', 'info');
		info.append(el('span', 'name', g.name || g.group),
		    el('span', 'seen', g.members ? g.members.length + ' members' : 'group'));
		li.append(el('span', 'dot group-dot', '#'), info, badge(conv(g.group).unread));
		li.addEventListener('click', () => openConv(g.group));
		gl.append(li);
	}
	if (!gs.length)
		gl.append(el('li', 'hint', 'No groups yet.'));
	let total = 0;
	for (const c of convs.values())
		total += c.unread;
	document.title = total ? '(' + total + ') chat' : 'chat';
}

function renderHead() {
	if (!current)
		return;
	const sub = $('conv-sub');
	sub.replaceChildren();
	if (current.startsWith('g_')) {
		const g = groups.get(current) || {};
		$('conv-title').textContent = g.name || current;
		$('member-form').hidden = false;
		for (const u of g.members || []) {
			const p = memberPresence.get(u) || friends.get(u) || {};
			const m = el('span', 'member');
			m.dataset.user = u;
			m.append(el('span', 'dot' + (p.status === 'online' ? ' online' : '')),
			    document.createTextNode(u));
			sub.append(m);
		}
	} else {
		$('conv-title').textContent = current;
		$('member-form').hidden = true;
		const f = friends.get(current);
		if (f && f.state === 'friends') {
			const online = f.status === 'online';
			sub.append(el('span', 'dot' + (online ? ' online' : '')),
			    el('span', 'seen', seenText(f.status, f.last_active_at)));
		}
	}
}

function fmtTime(ts) {
	const d = new Date(ts);
	const today = new Date().toDateString() === d.toDateString();
	const t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
	return today ? t : d.toLocaleDateString() + ' ' + t;
}

function renderMessages(stick) {
	const c = conv(current);
	const box = $('messages');
	const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
	const ol = $('msg-list');
	ol.replaceChildren();
	for (const m of c.msgs.concat(c.pending || [])) {
		const mine = m.from === session.user;
		const li = el('li', 'msg' + (mine ? ' mine' : ''));
		if (m.id)
			li.dataset.id = m.id;
		if (m.pending)
			li.classList.add(m.failed ? 'failed' : 'pending');
		const meta = el('div', 'meta');
		if (c.isGroup && !mine)
			meta.append(el('span', 'from', m.from));
		meta.append(el('span', 'time', m.ts ? fmtTime(m.ts) :
		    m.failed ? 'not sent: ' + m.failed : 'sending…'));
		li.append(meta, el('div', 'body', m.body));
		ol.append(li);
	}
	renderHistoryState(c);
	if (stick || atBottom)
		box.scrollTop = box.scrollHeight;
}

function renderHistoryState(c) {
	if (c.key !== current)
		return;
	const s = $('history-state');
	if (c.loading)
		s.textContent = 'loading older messages…';
	else if (c.loaded && !c.more)
		s.textContent = c.msgs.length ? 'start of the conversation' : 'no messages yet';
	else
		s.textContent = '';
}

function renderTyping() {
	const t = $('typing');
	const c = current && convs.get(current);
	const who = c ? [...c.typing.keys()] : [];
	t.textContent = who.length ? who.join(', ') +
	    (who.length > 1 ? ' are typing…' : ' is typing…') : '';
}

function showError(id, text) {
	const e = $(id);
	e.textContent = text;
	clearTimeout(e._t);
	e._t = setTimeout(() => { e.textContent = ''; }, 6000);
}

/* ---------- log in, sign up, log out ---------- */

let pollTimer = null, clockTimer = null;

async function start() {
	$('login').hidden = true;
	$('app').hidden = false;
	$('me').textContent = session.user;
	if ('Notification' in window && Notification.permission === 'default')
		$('btn-notify').hidden = false;
	await Promise.all([loadFriends(), loadGroups()]);
	connect();
	pollTimer = setInterval(loadFriends, FRIENDS_POLL_MS);
	clockTimer = setInterval(() => { renderLists(); renderHead(); }, 30000);
}

async function logout(tellServer, why) {
	if (!session)
		return;
	disconnect();
	if (tellServer)
		try { await api('POST', '/v1/logout'); } catch (e) { /* gone */ }
	session = null;
	store.clear();
	clearInterval(pollTimer);
	clearInterval(clockTimer);
	friends.clear();
	groups.clear();
	convs.clear();
	memberPresence.clear();
	ws.outbox.clear();
	current = null;
	newestId = null;
	$('app').hidden = true;
	$('login').hidden = false;
	$('conv-view').hidden = true;
	$('conv-empty').hidden = false;
	$('login-error').textContent = why || '';
}

async function login(user, password) {
	const body = { user, password };
	const dev = store.device(user);
	if (dev)
		body.device = dev;
	let d;
	try {
		d = await api('POST', '/v1/login', body);
	} catch (e) {
		if (!dev || e.status !== 401 && e.status !== 404)
			throw e;
		/* The remembered device is gone: log in as a new one. */
		d = await api('POST', '/v1/login', { user, password });
	}
	session = { token: d.token, user: d.user, device: d.device, chat_url: d.chat_url };
	store.setDevice(d.user, d.device);
	store.save(session);
	await start();
}

function formUser() {
	return $('login-user').value.trim().toLowerCase();
}

$('login-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	$('login-error').textContent = '';
	try {
		await login(formUser(), $('login-pass').value);
	} catch (e) {
		$('login-error').textContent = e.code === 'unauthorized' ?
		    'wrong user name or password' : e.message;
	}
});

$('btn-signup').addEventListener('click', async () => {
	const form = $('login-form');
	if (!form.reportValidity())
		return;
	$('login-error').textContent = '';
	try {
		await api('POST', '/v1/signup', { user: formUser(),
		    password: $('login-pass').value });
		await login(formUser(), $('login-pass').value);
	} catch (e) {
		$('login-error').textContent = e.code === 'user_exists' ?
		    'that name is taken' : e.message;
	}
});

$('btn-logout').addEventListener('click', () => logout(true));

$('btn-notify').addEventListener('click', async () => {
	try { await Notification.requestPermission(); } catch (e) { /* no */ }
	$('btn-notify').hidden = Notification.permission !== 'default';
});

$('friend-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	const u = $('friend-user').value.trim().toLowerCase();
	if (!u || u === session.user)
		return;
	try {
		await addFriend(u);
		$('friend-user').value = '';
	} catch (e) {
		showError('friend-error', e.code === 'no_such_user' ?
		    'no user \u201c' + u + '\u201d' : e.message);
	}
});

function memberList(s) {
	return s.split(/[\s,]+/).map((x) => x.trim().toLowerCase())
	    .filter((x) => x && x !== session.user);
}

$('group-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	try {
		const g = await api('POST', '/v1/groups', {
			name: $('group-name').value.trim(),
			members: memberList($('group-members').value) });
		groups.set(g.group, g);
		$('group-name').value = '';
		$('group-members').value = '';
		renderLists();
		openConv(g.group);
	} catch (e) {
		showError('group-error', e.message);
	}
});

$('member-form').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	const u = $('member-user').value.trim().toLowerCase();
	const gid = current;
	try {
		await api('PUT', '/v1/groups/' + encodeURIComponent(gid) +
		    '/members/' + encodeURIComponent(u));
		$('member-user').value = '';
		const g = await api('GET', '/v1/groups/' + encodeURIComponent(gid));
		groups.set(gid, Object.assign(groups.get(gid) || {}, g));
		wsSend({ type: 'presence', group: gid });
		renderHead();
		renderLists();
	} catch (e) {
		showError('conv-error', e.message);
	}
});

$('composer').addEventListener('submit', (ev) => {
	ev.preventDefault();
	const t = $('compose-text');
	const body = t.value;
	if (!body.trim())
		return;
	t.value = '';
	ws.lastTyping = 0;
	send(body);
});

$('compose-text').addEventListener('keydown', (ev) => {
	if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
		ev.preventDefault();
		$('composer').requestSubmit();
	}
});
$('compose-text').addEventListener('input', typed);

$('messages').addEventListener('scroll', () => {
	if (current && $('messages').scrollTop < 60)
		loadOlder(current);
});

/* A reload keeps the tab's session: straight back in. */
session = store.load();
if (session && session.token) {
	start().catch(() => logout(false));
} else {
	session = null;
	$('login').hidden = false;
}
