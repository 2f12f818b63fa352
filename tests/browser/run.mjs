#!/usr/bin/env node
/*
 * The example web page (examples/web) in a real browser: Debian's headless
 * Chromium driven by playwright-core, against the real stack (chat-super and
 * every program) on free ports in a temporary CHAT_HOME.
 *
 * Three browser contexts are three people with their own storage: alice and
 * bob sign up, become friends, see each other's dot turn green, talk both
 * ways (typing notices, unread counts), alice's network drops and comes
 * back (she resumes from the newest id she holds and gets what bob sent
 * meanwhile), carol joins, alice makes a group of three, bob's context is
 * closed and alice sees him go offline, alice reloads and pages back through
 * the history.  Each step leaves a screenshot in tests/browser/out/.
 *
 * Output is TAP, then "N passed, N failed".  The stack is stopped by its PID
 * at the end, whatever happened.
 *
 *   node run.mjs [--bin DIR]     (default: CHAT_BIN, else the repo's bin/)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const argBin = process.argv.indexOf('--bin');
const bin = path.resolve(argBin > 0 ? process.argv[argBin + 1] :
    process.env.CHAT_BIN || path.join(repo, 'bin'));
const out = path.join(here, 'out');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const PRESENCE_TIMEOUT = 6;	/* seconds; above the page's 5 s heartbeat */
const T = 20000;		/* bound on any one wait, ms */

let passed = 0, failed = 0, n = 0;
function ok(cond, what, detail) {
	n++;
	if (cond) {
		passed++;
		console.log(`ok ${n} - ${what}`);
	} else {
		failed++;
		console.log(`not ok ${n} - ${what}`);
		if (detail)
			console.log('# ' + String(detail).split('\n').join('\n# '));
	}
}

/* One step: runs fn, which throws to fail; a screenshot of page either way. */
let shot = 0;
async function step(what, page, fn) {
	let err = null;
	try {
		await fn();
	} catch (e) {
		err = e;
	}
	if (page) {
		shot++;
		const name = String(shot).padStart(2, '0') + '-' +
		    what.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/-+$/, '') + '.png';
		try {
			await page.screenshot({ path: path.join(out, name) });
		} catch (e) { /* the page may be gone */ }
	}
	ok(!err, what, err && (err.stack || err.message));
	return !err;
}

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const p = s.address().port;
			s.close(() => resolve(p));
		});
	});
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = T) {
	const end = Date.now() + ms;
	for (;;) {
		try {
			if (await fn())
				return;
		} catch (e) { /* not yet */ }
		if (Date.now() > end)
			throw new Error('timed out after ' + ms + ' ms: ' + what);
		await sleep(100);
	}
}

function canConnect(port) {
	return new Promise((resolve) => {
		const s = net.connect(port, '127.0.0.1');
		s.on('connect', () => { s.destroy(); resolve(true); });
		s.on('error', () => resolve(false));
	});
}

/* ---------- the stack ---------- */

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-browser-'));
let superProc = null;
let apiPort, wsPort, base;

async function startStack() {
	apiPort = await freePort();
	wsPort = await freePort();
	base = `http://127.0.0.1:${apiPort}`;
	const env = Object.assign({}, process.env, {
		CHAT_HOME: home,
		CHAT_API_LISTEN: `127.0.0.1:${apiPort}`,
		CHAT_CHATD_LISTEN: `127.0.0.1:${wsPort}`,
		CHAT_CHATD_URL: `ws://127.0.0.1:${wsPort}/v1/ws`,
		CHAT_WEB_ROOT: path.join(repo, 'examples/web'),
		CHAT_WS_ORIGINS: base,
		CHAT_PRESENCE_TIMEOUT: String(PRESENCE_TIMEOUT),
		CHAT_PASSWORD_COST: '1',
	});
	delete env.CHAT_RUN;
	const log = fs.openSync(path.join(home, 'super.log'), 'a');
	superProc = spawn(path.join(bin, 'chat-super'), ['--foreground'],
	    { env, stdio: ['ignore', log, log] });
	fs.closeSync(log);
	await until('chat-api answers', async () =>
	    (await fetch(base + '/v1/health')).ok);
	await until('chatd listens', () => canConnect(wsPort));
}

async function stopStack() {
	if (!superProc || superProc.exitCode !== null)
		return;
	const done = new Promise((r) => superProc.once('exit', r));
	superProc.kill('SIGTERM');
	const timer = setTimeout(() => superProc.kill('SIGKILL'), 10000);
	await done;
	clearTimeout(timer);
}

/* ---------- the page ---------- */

async function person(browser, name) {
	const ctx = await browser.newContext({ viewport: { width: 1100, height: 720 } });
	const page = await ctx.newPage();
	/* Notifications: record what the page shows, and let a test say the
	 * tab is hidden (headless tabs are always visible). */
	await page.addInitScript(() => {
		window.__notes = [];
		window.__hidden = false;
		Object.defineProperty(Document.prototype, 'hidden',
		    { configurable: true, get: () => window.__hidden });
		class FakeNotification {
			constructor(title, opts) { window.__notes.push({ title, body: opts && opts.body }); }
			close() {}
			static requestPermission() { return Promise.resolve('granted'); }
		}
		FakeNotification.permission = 'granted';
		window.Notification = FakeNotification;
	});
	/* Every frame the page sends and gets, parsed, for the checks on the
	 * protocol itself (resume point, heartbeats). */
	const p = { name, ctx, page, sent: [], recv: [] };
	const parse = (x) => { try { return JSON.parse(x); } catch (e) { return {}; } };
	page.on('websocket', (w) => {
		w.on('framesent', (f) => p.sent.push({ t: Date.now(), f: parse(f.payload) }));
		w.on('framereceived', (f) => p.recv.push({ t: Date.now(), f: parse(f.payload) }));
	});
	page.on('pageerror', (e) => console.log(`# ${name}: page error: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error')
			console.log(`# ${name}: console: ${m.text()}`);
	});
	return p;
}

async function signup(p) {
	await p.page.goto(base + '/');
	await p.page.fill('#login-user', p.name);
	await p.page.fill('#login-pass', 'password-' + p.name);
	await p.page.click('#btn-signup');
	await p.page.waitForSelector('#app:not([hidden])', { timeout: T });
	await until(p.name + ' online', async () =>
	    await p.page.getAttribute('#conn', 'data-state') === 'up');
}

const friendLi = (u) => `#friends li.friend[data-user="${u}"]`;
const groupLi = (g) => `#groups li.group[data-group="${g}"]`;

async function isOnline(page, u) {
	return page.locator(friendLi(u) + ' .dot.online').count().then((c) => c === 1);
}

async function sendText(page, text) {
	await page.fill('#compose-text', text);
	await page.press('#compose-text', 'Enter');
}

async function hasMsg(page, text) {
	return (await page.locator('#msg-list li.msg .body', { hasText: text }).count()) > 0;
}

async function sentMsg(page, text) {
	await until('"' + text + '" acknowledged', async () =>
	    (await page.locator('#msg-list li.msg[data-id] .body', { hasText: text }).count()) > 0);
}

/* ---------- the run ---------- */

async function main() {
	fs.mkdirSync(out, { recursive: true });
	for (const f of fs.readdirSync(out))
		if (f.endsWith('.png'))
			fs.unlinkSync(path.join(out, f));
	await startStack();
	const browser = await chromium.launch({
		executablePath: chromiumPath,
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
		    '--no-first-run', '--disable-background-networking',
		    '--disable-component-update', '--disable-sync'],
		/* launch() starts Chromium on a fresh temporary --user-data-dir
		 * of its own (it refuses one in args) and removes it at close. */
	});
	try {
		await scenario(browser);
	} finally {
		await browser.close();
	}
}

async function scenario(browser) {
	const alice = await person(browser, 'alice');
	const bob = await person(browser, 'bob');
	const A = alice.page, B = bob.page;

	await step('the page is served with its security headers', A, async () => {
		const res = await A.goto(base + '/');
		const h = res.headers();
		if (res.status() !== 200)
			throw new Error('status ' + res.status());
		if (!/^text\/html/.test(h['content-type']))
			throw new Error('content-type ' + h['content-type']);
		if (!/default-src 'none'/.test(h['content-security-policy'] || '') ||
		    !h['content-security-policy'].includes(`ws://127.0.0.1:*`))
			throw new Error('csp ' + h['content-security-policy']);
		await A.waitForSelector('#login:not([hidden])');
	});

	await step('alice signs up', A, () => signup(alice));
	await step('bob signs up', B, () => signup(bob));

	await step('alice adds bob: a request', A, async () => {
		await A.fill('#friend-user', 'bob');
		await A.click('#btn-add-friend');
		await until('request shown', async () =>
		    await A.getAttribute(friendLi('bob'), 'data-state') === 'requested');
	});

	await step('bob sees the request and accepts', B, async () => {
		await until('pending shown', async () =>
		    await B.getAttribute(friendLi('alice'), 'data-state') === 'pending');
		await B.click(friendLi('alice') + ' button.accept');
		await until('friends', async () =>
		    await B.getAttribute(friendLi('alice'), 'data-state') === 'friends');
	});

	await step('bob sees alice\'s dot turn green', B, () =>
	    until('alice online for bob', () => isOnline(B, 'alice')));
	await step('alice sees bob\'s dot turn green', A, () =>
	    until('bob online for alice', () => isOnline(A, 'bob')));

	await step('alice writes to bob, bob sees an unread count', B, async () => {
		await A.click(friendLi('bob'));
		await A.fill('#compose-text', 'hello bob');
		await A.press('#compose-text', 'Enter');
		await sentMsg(A, 'hello bob');
		await until('unread 1', async () =>
		    (await B.textContent(friendLi('alice') + ' .badge')) === '1' &&
		    await B.isVisible(friendLi('alice') + ' .badge'));
	});

	await step('bob opens the conversation: the message, unread cleared', B, async () => {
		await B.click(friendLi('alice'));
		await until('message shown', () => hasMsg(B, 'hello bob'));
		if (await B.isVisible(friendLi('alice') + ' .badge'))
			throw new Error('badge still shown');
	});

	await step('alice sees bob typing', A, async () => {
		await B.type('#compose-text', 'hi al', { delay: 30 });
		await until('typing notice', async () =>
		    /bob is typing/.test(await A.textContent('#typing')));
	});

	await step('bob answers, alice sees it', A, async () => {
		await B.fill('#compose-text', 'hi alice, got it');
		await B.press('#compose-text', 'Enter');
		await sentMsg(B, 'hi alice, got it');
		await until('answer shown', () => hasMsg(A, 'hi alice, got it'));
	});

	let held = null;
	await step('alice\'s network drops', A, async () => {
		held = alice.recv.filter((x) => x.f.type === 'msg').map((x) => x.f.id).sort().pop();
		await alice.ctx.setOffline(true);
		await until('alice disconnected', async () =>
		    await A.getAttribute('#conn', 'data-state') !== 'up');
	});

	await step('bob writes while alice is away', B, async () => {
		await sendText(B, 'sent while you were away');
		await sentMsg(B, 'sent while you were away');
		if (await hasMsg(A, 'sent while you were away'))
			throw new Error('alice got it while offline');
	});

	await step('alice comes back and resumes: the missed message', A, async () => {
		await alice.ctx.setOffline(false);
		await until('alice reconnected', async () =>
		    await A.getAttribute('#conn', 'data-state') === 'up');
		await until('missed message', () => hasMsg(A, 'sent while you were away'));
		const count = await A.locator('#msg-list li.msg .body',
		    { hasText: 'hello bob' }).count();
		if (count !== 1)
			throw new Error('"hello bob" shown ' + count + ' times');
		const auths = alice.sent.filter((x) => x.f.type === 'auth');
		const last = auths[auths.length - 1].f;
		if (auths.length < 2 || !held || last.since !== held)
			throw new Error('resumed with since ' + last.since + ', held ' + held);
	});

	const carol = await person(browser, 'carol');
	const C = carol.page;
	await step('carol signs up', C, () => signup(carol));

	let gid = null;
	await step('alice makes a group with bob and carol', A, async () => {
		await C.evaluate(() => { window.__hidden = true; });	/* carol looks away */
		await A.fill('#group-name', 'weekend plans');
		await A.fill('#group-members', 'bob, carol');
		await A.click('#btn-create-group');
		await until('group open', async () =>
		    (await A.textContent('#conv-title')) === 'weekend plans');
		gid = await A.getAttribute('#groups li.group.active', 'data-group');
		if (!/^g_[a-z0-9]+$/.test(gid || ''))
			throw new Error('group id ' + gid);
		await until('three members', async () =>
		    (await A.locator('#conv-sub .member').count()) === 3);
		await sendText(A, 'who is in for saturday?');
		await sentMsg(A, 'who is in for saturday?');
	});

	await step('carol, tab hidden, gets a notification and the group', C, async () => {
		await until('group listed', async () => (await C.locator(groupLi(gid)).count()) === 1);
		await until('notification', async () => (await C.evaluate(() => window.__notes.length)) > 0);
		const note = await C.evaluate(() => window.__notes[0]);
		if (note.title !== 'alice in weekend plans' || note.body !== 'who is in for saturday?')
			throw new Error('notification ' + JSON.stringify(note));
		await C.evaluate(() => {
			window.__hidden = false;
			document.dispatchEvent(new Event('visibilitychange'));
		});
		await until('unread 1', async () =>
		    (await C.textContent(groupLi(gid) + ' .badge')) === '1');
	});

	await step('carol and bob answer in the group', C, async () => {
		await C.click(groupLi(gid));
		await until('message', () => hasMsg(C, 'who is in for saturday?'));
		await sendText(C, 'me!');
		await sentMsg(C, 'me!');
		await B.click(groupLi(gid));
		await until('bob sees it', () => hasMsg(B, 'me!'));
		await sendText(B, 'count me in too');
		await sentMsg(B, 'count me in too');
		await until('alice sees both', async () =>
		    await hasMsg(A, 'me!') && await hasMsg(A, 'count me in too'));
		await until('carol sees bob', () => hasMsg(C, 'count me in too'));
	});

	await step('the group view on bob\'s side', B, async () => {
		await until('three members', async () =>
		    (await B.locator('#conv-sub .member').count()) === 3);
	});

	await step('bob goes away: alice sees him offline with a last seen', A, async () => {
		await A.click(friendLi('bob'));
		await bob.ctx.close();
		const t0 = Date.now();
		await until('bob offline for alice', async () => !(await isOnline(A, 'bob')),
		    (PRESENCE_TIMEOUT + 12) * 1000);
		const seen = await A.textContent(friendLi('bob') + ' .seen');
		if (!/^last seen /.test(seen))
			throw new Error('shows "' + seen + '"');
		console.log(`# bob offline for alice after ${Date.now() - t0} ms`);
	});

	await step('alice writes a long conversation', A, async () => {
		for (let i = 1; i <= 45; i++)
			await sendText(A, `note ${i} of 45`);
		await sentMsg(A, 'note 45 of 45');
	});

	await step('alice reloads: history, then older pages on scrolling up', A, async () => {
		await A.reload();
		await until('back online', async () =>
		    await A.getAttribute('#conn', 'data-state') === 'up');
		await A.click(friendLi('bob'));
		await until('newest page', () => hasMsg(A, 'note 45 of 45'));
		for (let i = 0; i < 10 && !/start of the conversation/.test(
		    await A.textContent('#history-state')); i++) {
			await A.evaluate(() => { document.getElementById('messages').scrollTop = 0; });
			await sleep(300);
		}
		await until('oldest message', () => hasMsg(A, 'hello bob'));
		const count = await A.locator('#msg-list li.msg').count();
		if (count !== 48)
			throw new Error(count + ' messages shown, want 48');
		const ids = await A.$$eval('#msg-list li.msg', (l) => l.map((e) => e.dataset.id));
		if (ids.some((id, i) => i > 0 && !(ids[i - 1] < id)))
			throw new Error('not in id order');
	});

	await step('the page as alice sees it', A, async () => {
		await A.click(groupLi(gid));
		await until('group history', () => hasMsg(A, 'count me in too'));
	});

	await step('alice\'s page sent a heartbeat every 5 s', null, async () => {
		/* on her first connection, before the network dropped */
		const first = [];
		for (const x of alice.sent.slice(1)) {
			if (x.f.type === 'auth')
				break;
			if (x.f.type === 'hb')
				first.push(x.t);
		}
		const gaps = first.slice(1).map((t, i) => t - first[i]);
		console.log(`# ${first.length} heartbeats, gaps ${gaps.join(', ')} ms`);
		if (first.length < 3 || gaps.some((g) => g < 4000 || g > 6500))
			throw new Error('heartbeats ' + gaps.join(', '));
	});

	await carol.ctx.close();
	await alice.ctx.close();
}

let code = 0;
try {
	await main();
} catch (e) {
	ok(false, 'the run', e.stack || e.message);
} finally {
	await stopStack();
	if (failed) {
		for (const f of ['super.log', 'log/chatd.log', 'log/api.log'])
			try {
				const t = fs.readFileSync(path.join(home, f), 'utf8').split('\n').slice(-15);
				console.log(`# --- ${f}\n# ` + t.join('\n# '));
			} catch (e) { /* none */ }
	}
	fs.rmSync(home, { recursive: true, force: true });
	console.log(`1..${n}`);
	console.log(`${passed} passed, ${failed} failed`);
	code = failed || !passed ? 1 : 0;
}
process.exit(code);
