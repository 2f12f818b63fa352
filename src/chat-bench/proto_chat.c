/*
 * proto_chat: the frames of chatd's protocol (chat-protocol(7)) and of
 * bench/lws-relay, which takes the same "send" frame and answers with the
 * same "ack", so one parser serves both.
 *
 *   chat:  auth {token, since?} -> ready, msg..., synced; send -> ack | error;
 *          msg to the recipients; recv and hb from us
 *   relay: auth {user, group?} -> synced; send -> ack; the recipient gets
 *          the send frame itself
 *
 * Frames are written with snprintf into the caller's buffer and read with
 * jscan, so a message costs no allocation on this side.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "jscan.h"
#include "log.h"

static char *body;	/* --body-bytes of 'x', made once */

static uint64_t
hex64(const char *s, size_t len, int *ok)
{
	uint64_t v = 0;
	size_t i;

	*ok = len == 16;
	for (i = 0; i < len && *ok; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint64_t)(c - 'a' + 10);
		else
			*ok = 0;
	}
	return v;
}

static size_t
auth_frame(struct dev *d, unsigned char *buf, size_t cap)
{
	int n;

	if (B.o.target == TARGET_RELAY) {
		if (d->group >= 0)
			n = snprintf((char *)buf, cap, "{\"type\":\"auth\","
			    "\"user\":\"%s\",\"group\":\"%s\"}", d->user,
			    B.groups[d->group].gid);
		else
			n = snprintf((char *)buf, cap, "{\"type\":\"auth\","
			    "\"user\":\"%s\"}", d->user);
	} else if (d->last_id != 0)
		n = snprintf((char *)buf, cap, "{\"type\":\"auth\",\"token\":"
		    "\"%s\",\"since\":\"%016llx\"}", d->token,
		    (unsigned long long)d->last_id);
	else
		n = snprintf((char *)buf, cap, "{\"type\":\"auth\",\"token\":"
		    "\"%s\"}", d->token);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static size_t
send_frame(struct dev *d, uint32_t slot, unsigned char *buf, size_t cap)
{
	const struct msg *m = &B.msgs[slot];
	char cid[32];
	int n;

	if (body == NULL) {
		if ((body = malloc((size_t)B.o.body_bytes + 1)) == NULL)
			return 0;
		memset(body, 'x', (size_t)B.o.body_bytes);
		body[B.o.body_bytes] = '\0';
	}
	load_format_cid(slot, cid, sizeof(cid));
	if (m->is_group)
		n = snprintf((char *)buf, cap, "{\"type\":\"send\",\"cid\":"
		    "\"%s\",\"group\":\"%s\",\"body\":\"%s\"}", cid,
		    B.groups[d->group].gid, body);
	else
		n = snprintf((char *)buf, cap, "{\"type\":\"send\",\"cid\":"
		    "\"%s\",\"to\":\"%s\",\"body\":\"%s\"}", cid,
		    B.devs[(d->idx ^ 1) < B.ndevs ? d->idx ^ 1 : 0].user, body);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int
chat_pending(const struct dev *d)
{
	if (d->state == DEV_AUTH)
		return d->step == 0;
	return d->state == DEV_READY && (d->qhead != d->qtail || d->hb_due ||
	    d->recv_due);
}

size_t
chat_write(struct dev *d, unsigned char *buf, size_t cap)
{
	int n;

	if (d->state == DEV_AUTH && d->step == 0) {
		d->step = 1;
		return auth_frame(d, buf, cap);
	}
	if (d->state != DEV_READY)
		return 0;
	if (d->qhead != d->qtail)
		return send_frame(d, d->q[d->qhead++ % BENCH_SENDQ], buf, cap);
	if (d->recv_due) {
		d->recv_due = 0;
		d->recv_sent = d->last_id;
		n = snprintf((char *)buf, cap, "{\"type\":\"recv\",\"id\":"
		    "\"%016llx\"}", (unsigned long long)d->last_id);
		return (size_t)n;
	}
	if (d->hb_due) {
		d->hb_due = 0;
		memcpy(buf, "{\"type\":\"hb\"}", 13);
		return 13;
	}
	return 0;
}

void
chat_rx(struct dev *d, const char *buf, size_t len)
{
	struct jfield f[4] = {
		{ "type", NULL, 0 }, { "cid", NULL, 0 }, { "id", NULL, 0 },
		{ "code", NULL, 0 }
	};
	double now = bench_now();
	uint64_t id;
	int ok;

	if (jscan(buf, len, f, 4) == -1 || f[0].val == NULL) {
		B.bad_frames++;
		return;
	}
	if (jfield_is(&f[0], "ack")) {
		if (f[1].val != NULL)
			load_ack(f[1].val, f[1].len, now);
		/* its own messages are in its inbox too: a resume starts
		 * after the newest of both (state.c) */
		id = f[2].val ? hex64(f[2].val, f[2].len, &ok) : 0;
		if (f[2].val != NULL && ok && id > d->last_acked)
			d->last_acked = id;
	} else if (jfield_is(&f[0], "msg")) {
		id = hex64(f[2].val, f[2].len, &ok);
		if (!ok) {
			B.bad_frames++;
			return;
		}
		if (id <= d->last_id) {
			B.duplicates++;	/* ids rise per device */
			return;
		}
		d->last_id = id;
		if (d->state == DEV_READY && f[1].val != NULL)
			load_delivered(d, f[1].val, f[1].len, now);
		else
			B.stale++;	/* synced from before this run */
	} else if (jfield_is(&f[0], "send")) {
		if (f[1].val != NULL)	/* the relay passes frames on */
			load_delivered(d, f[1].val, f[1].len, now);
	} else if (jfield_is(&f[0], "synced")) {
		bench_dev_ready(d);
	} else if (jfield_is(&f[0], "error")) {
		if (d->state == DEV_AUTH)
			log_warnx("%s: %.*s", d->user, (int)len, buf);
		load_error(f[1].val, f[1].len, f[3].val, f[3].len);
	}
	/* ready, presence, typing: nothing to count */
}
