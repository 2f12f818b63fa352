/*
 * sync: a device catching up from its inbox, and the one rule that keeps
 * what it receives in increasing id order, live and on sync alike.
 *
 * After auth the device's inbox after its cursor (or `since`) is read from
 * chat-store a page at a time, oldest first; the next page is asked for only
 * when the socket has drained below CHATD_SYNC_LOWAT, and a page queues at
 * most half of send_queue_max (what does not fit is read again with the
 * next page), so a device away for 100,000 messages costs one page of
 * memory, not 100,000.  Then `synced`.
 *
 * Sync output (pages, `synced`, the held deliveries) is bounded by that
 * pacing, not by send_queue_max's close: a device that reads at any normal
 * pace completes a sync of any size, and one that stops reading during a
 * sync simply gets no further page (lws's ping timeout ends it).  Only live
 * deliveries, which the device cannot pace, are closed on (conn_push).
 *
 * Live deliveries during a sync: chat-route delivers a message only after
 * chat-store committed it, so one that arrives before a page is asked for
 * is in that page or a later one, and is dropped.  One that arrives while a
 * read is in flight may or may not be in it: it is held, and after the last
 * page the held ones newer than the last id sent are written.  Held frames
 * are bounded by send_queue_max; past it they are dropped and one more page
 * is read instead.  Then each connection drops any delivery whose id is not
 * above the last id it wrote, so a redelivery (a resent request after a
 * crash) never reaches the device twice or out of order.
 *
 * When chat-route restarts, messages it committed but had not delivered yet
 * are in the inboxes: every live device silently re-reads its inbox after
 * its last id (sync_resync_all), which fills that gap.
 */
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "id.h"
#include "ipc.h"
#include "json.h"
#include "log.h"

#define PAGE_MIN	10

static void read_page(struct conn *c);

/* Queues f without the slow-reader close: sync output is bounded by the
 * page budget and the low-water mark instead. */
static void
push_sync(struct conn *c, struct wsframe *f)
{
	if (c->wsi == NULL || c->close_code != 0 || f == NULL)
		return;
	if (fq_push(&c->out, wsframe_ref(f)) == -1) {
		wsframe_unref(f);
		conn_close(c, CLOSE_TRY_AGAIN, "out of memory", 0);
		return;
	}
	lws_callback_on_writable(c->wsi);
}

/* What one page may add to the queue: half of send_queue_max leaves the
 * other half to live deliveries once the sync is over. */
static size_t
page_budget(void)
{
	return chatd.send_queue_max / 2;
}

/* A page of about page_budget() bytes of messages averaging avg bytes. */
static int
page_limit(size_t avg)
{
	size_t n = avg > 0 ? page_budget() / avg : CHATD_SYNC_PAGE;

	if (n > CHATD_SYNC_PAGE)
		n = CHATD_SYNC_PAGE;
	return n < PAGE_MIN ? PAGE_MIN : (int)n;
}

static size_t page_avg = 256;	/* bytes per synced message, running */

/* The client frame of a stored message: type first, no internal fields. */
static struct wsframe *
msg_frame(jv m, uint64_t id)
{
	jv f = jv_object_merge(jv_object_set(jv_object(), jv_string("type"),
	    jv_string("msg")), m);

	f = jv_object_delete(f, jv_string("device"));
	return wsframe_jv(f, id);
}

/* The next page now if the queue has drained, else at WRITEABLE once it
 * has (sync_drained): live deliveries meanwhile are in that page. */
static void
next_page(struct conn *c)
{
	fq_clear(&c->held);	/* the next page covers them */
	c->held_over = 0;
	if (c->out.bytes < CHATD_SYNC_LOWAT)
		read_page(c);
}

static void
finish(struct conn *c)
{
	struct wsframe *f;

	/* Held deliveries that overflowed, or that would take the queue
	 * past send_queue_max, are read back from the inbox instead. */
	if (c->held_over ||
	    c->out.bytes + c->held.bytes > chatd.send_queue_max) {
		next_page(c);
		return;
	}
	if (!c->sync_silent) {
		char hex[ID_HEX_LEN + 1];
		id_format(c->last_id, hex);
		struct wsframe *sf = wsframe_jv(jv_object_set(jv_object_set(
		    jv_object(), jv_string("type"), jv_string("synced")),
		    jv_string("cursor"), jv_string(hex)), 0);
		push_sync(c, sf);
		wsframe_unref(sf);
	}
	while ((f = fq_pop(&c->held)) != NULL) {
		if (f->id > c->last_id) {
			push_sync(c, f);
			c->last_id = f->id;
			chatd.n.delivered++;
		} else
			chatd.n.dropped_old++;
		wsframe_unref(f);
	}
	fq_clear(&c->held);
	c->state = CONN_LIVE;
	if (c->sync_again) {
		c->sync_again = 0;
		sync_start(c, c->last_id, 1);
	}
}

static void
on_page(void *arg, jv reply)
{
	struct conn *c = arg;
	int count = 0;

	c->sync_reading = 0;
	if (c->wsi == NULL || c->state != CONN_SYNCING || c->close_code != 0)
		goto out;
	if (!json_bool(reply, "ok", 0)) {
		log_warnx("'%s': inbox.read failed: closing to retry later",
		    c->key);
		conn_error(c, NULL, "unavailable", "chat-store is unavailable: "
		    "try again later");
		conn_close(c, CLOSE_TRY_AGAIN, "store unavailable", 1);
		goto out;
	}
	jv msgs = jv_object_get(jv_copy(reply), jv_string("messages"));
	size_t bytes = 0;
	int cut = 0;
	if (jv_get_kind(msgs) == JV_KIND_ARRAY) {
		jv_array_foreach(msgs, i, m) {
			const char *s;
			size_t len;
			uint64_t id;
			if ((s = json_str(m, "id", &len)) == NULL ||
			    id_parse(s, len, &id) == -1 || id <= c->last_id) {
				jv_free(m);
				continue;
			}
			struct wsframe *f = msg_frame(m, id);
			if (f != NULL && count > 0 &&
			    c->out.bytes + f->len > page_budget()) {
				/* Over the budget: this one and the rest come
				 * with the next page. */
				wsframe_unref(f);
				cut = 1;
				break;
			}
			if (f != NULL) {
				bytes += f->len;
				push_sync(c, f);
				wsframe_unref(f);
			}
			c->last_id = c->sync_after = id;
			chatd.n.synced_msgs++;
			count++;
		}
	}
	jv_free(msgs);
	if (count > 0) {
		c->sync_avg = bytes / (size_t)count + 1;
		page_avg = (page_avg * 3 + c->sync_avg) / 4 + 1;
	}
	if (cut || (count > 0 && json_bool(reply, "more", 0)))
		next_page(c);
	else
		finish(c);
out:
	jv_free(reply);
	conn_unref(c);
}

static void
read_page(struct conn *c)
{
	char hex[ID_HEX_LEN + 1];

	fq_clear(&c->held);
	c->held_over = 0;
	c->sync_reading = 1;
	id_format(c->sync_after, hex);
	conn_ref(c);
	jv req = jv_object_set(jv_object_set(jv_object_set(jv_object_set(
	    jv_object(), jv_string("op"), jv_string("inbox.read")),
	    jv_string("user"), jv_string(c->user)), jv_string("after"),
	    jv_string(hex)), jv_string("limit"),
	    jv_number(page_limit(c->sync_avg ? c->sync_avg : page_avg)));
	if (ipc_call(chatd.store, req, CHATD_STORE_TIMEOUT, on_page, c) == -1) {
		c->sync_reading = 0;
		conn_unref(c);
		conn_close(c, CLOSE_TRY_AGAIN, "out of memory", 0);
	}
}

/* Enters the sync state; 0, or -1 if a sync runs already (it will run
 * again when it ends). */
static int
sync_begin(struct conn *c, uint64_t after, int silent)
{
	if (c->state == CONN_SYNCING) {
		c->sync_again = 1;
		return -1;
	}
	c->state = CONN_SYNCING;
	c->sync_silent = silent;
	c->sync_after = after;
	if (after > c->last_id)
		c->last_id = after;
	if (silent)
		chatd.n.resyncs++;
	else
		chatd.n.syncs++;
	return 0;
}

void
sync_start(struct conn *c, uint64_t after, int silent)
{
	if (sync_begin(c, after, silent) == 0)
		read_page(c);
}

static void
on_route_has_device(void *arg, jv reply)
{
	struct conn *c = arg;

	jv_free(reply);		/* an error too: route went away, and its
				 * return resyncs every device */
	c->sync_wait_route = 0;
	if (c->wsi != NULL && c->close_code == 0 &&
	    c->state == CONN_SYNCING && !c->sync_reading)
		read_page(c);
	conn_unref(c);
}

/*
 * After auth, conn_register has told chat-route "online".  A message that
 * chat-route routes before it has read that line goes to wherever the
 * device was before (another chatd, or nowhere); if the inbox were read
 * before that message committed, the device would never see it, since it
 * resumes after the newest id it holds.  So the first page waits for the
 * reply to a ping sent behind the "online" line: from then on, what
 * commits is delivered here live (dropped while no read is in flight:
 * the page covers it), and what committed before is in the page.  With
 * chat-route down there is nothing to wait for: its return resyncs every
 * device (upstream.c).
 */
void
sync_start_registered(struct conn *c, uint64_t after)
{
	if (sync_begin(c, after, 0) == -1)
		return;
	if (!ipc_client_connected(upstream_route(c->user))) {
		read_page(c);
		return;
	}
	c->sync_wait_route = 1;
	conn_ref(c);
	if (ipc_call(upstream_route(c->user), jv_object_set(jv_object(),
	    jv_string("op"),
	    jv_string("ping")), CHATD_STORE_TIMEOUT, on_route_has_device,
	    c) == -1) {
		c->sync_wait_route = 0;
		conn_unref(c);
		read_page(c);
	}
}

void
sync_drained(struct conn *c)
{
	if (c->state == CONN_SYNCING && !c->sync_reading &&
	    !c->sync_wait_route && c->close_code == 0 &&
	    c->out.bytes < CHATD_SYNC_LOWAT)
		read_page(c);
}

void
sync_deliver(struct conn *c, struct wsframe *f)
{
	if (c->state == CONN_LIVE) {
		if (f->id != 0 && f->id <= c->last_id) {
			chatd.n.dropped_old++;
			return;
		}
		if (conn_push(c, f) == 0 && f->id != 0) {
			c->last_id = f->id;
			chatd.n.delivered++;
		}
		return;
	}
	if (c->state != CONN_SYNCING || f->id == 0 || !c->sync_reading)
		return;		/* covered by the next page, or ephemeral */
	if (c->held_over)
		return;
	if (c->held.bytes + f->len > chatd.send_queue_max) {
		fq_clear(&c->held);
		c->held_over = 1;
		return;
	}
	if (fq_push(&c->held, wsframe_ref(f)) == -1) {
		wsframe_unref(f);
		fq_clear(&c->held);
		c->held_over = 1;
	}
}

void
sync_resync_all(void)
{
	size_t i = 0;
	struct conn *c;

	while ((c = strmap_next(&chatd.devices, &i)) != NULL)
		if (c->state == CONN_LIVE || c->state == CONN_SYNCING)
			sync_start(c, c->last_id, 1);
}
