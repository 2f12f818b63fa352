/*
 * proto_mqtt: just enough MQTT 3.1.1 (OASIS standard) over WebSocket to
 * drive a broker with the same shape of load as the chat stack: each
 * device is a clean-session client subscribed at QoS 1 to its own topic
 * "u/<user>" (and "g/<group>" if it is in one); a message is a QoS 1
 * PUBLISH to the recipient's topic, its PUBACK from the broker is the ack,
 * and its arrival on the recipient's socket is the delivery, which we
 * PUBACK in turn.  The payload is "<cid> <body>".
 *
 *   CONNECT -> CONNACK, SUBSCRIBE -> SUBACK, PUBLISH <-> PUBACK,
 *   PINGREQ -> PINGRESP (every 30 s; keep-alive 60 s)
 *
 * The broker may split or join packets across WebSocket frames, so input is
 * a byte stream kept in d->rx.  Output packs what is due into one frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "log.h"

#define KEEPALIVE	60
#define RX_MAX		(1024 * 1024)
#define PUBACKQ		1024	/* owed PUBACKs per device, power of 2 */

static char *body;

/* MQTT's variable-length "remaining length"; returns bytes written. */
static size_t
put_len(unsigned char *p, size_t n)
{
	size_t i = 0;

	do {
		unsigned char b = n % 128;
		n /= 128;
		p[i++] = (unsigned char)(b | (n > 0 ? 0x80 : 0));
	} while (n > 0);
	return i;
}

static size_t
put_str(unsigned char *p, const char *s, size_t len)
{
	p[0] = (unsigned char)(len >> 8);
	p[1] = (unsigned char)len;
	memcpy(p + 2, s, len);
	return len + 2;
}

/* A packet of type byte t with the variable part v[0..vlen) into p. */
static size_t
packet(unsigned char *p, unsigned t, const unsigned char *v, size_t vlen)
{
	size_t n;

	p[0] = (unsigned char)t;
	n = 1 + put_len(p + 1, vlen);
	memcpy(p + n, v, vlen);
	return n + vlen;
}

static size_t
connect_pkt(struct dev *d, unsigned char *p)
{
	unsigned char v[128];
	size_t n = 0;

	n += put_str(v + n, "MQTT", 4);
	v[n++] = 4;		/* 3.1.1 */
	v[n++] = 0x02;		/* clean session */
	v[n++] = 0;
	v[n++] = KEEPALIVE;
	n += put_str(v + n, d->user, strlen(d->user));
	return packet(p, 0x10, v, n);
}

static size_t
subscribe_pkt(struct dev *d, unsigned char *p)
{
	unsigned char v[256];
	char topic[80];
	size_t n = 0;
	int tl;

	v[n++] = 0;
	v[n++] = 1;		/* packet id 1 */
	tl = snprintf(topic, sizeof(topic), "u/%s", d->user);
	n += put_str(v + n, topic, (size_t)tl);
	v[n++] = 1;		/* QoS 1 */
	if (d->group >= 0) {
		tl = snprintf(topic, sizeof(topic), "g/%s",
		    B.groups[d->group].gid);
		n += put_str(v + n, topic, (size_t)tl);
		v[n++] = 1;
	}
	return packet(p, 0x82, v, n);
}

static size_t
publish_pkt(struct dev *d, uint32_t slot, unsigned char *p, size_t cap)
{
	const struct msg *m = &B.msgs[slot];
	char topic[80], cid[32];
	size_t tl, cl, rem, n;
	uint16_t pid;

	if (body == NULL) {
		if ((body = malloc((size_t)B.o.body_bytes + 1)) == NULL)
			return 0;
		memset(body, 'x', (size_t)B.o.body_bytes);
	}
	if (m->is_group)
		tl = (size_t)snprintf(topic, sizeof(topic), "g/%s",
		    B.groups[d->group].gid);
	else
		tl = (size_t)snprintf(topic, sizeof(topic), "u/%s",
		    B.devs[(d->idx ^ 1) < B.ndevs ? d->idx ^ 1 : 0].user);
	cl = (size_t)load_format_cid(slot, cid, sizeof(cid));
	rem = 2 + tl + 2 + cl + 1 + (size_t)B.o.body_bytes;
	if (rem + 5 > cap)
		return 0;
	if (++d->next_pid == 0)
		d->next_pid = 1;
	pid = d->next_pid;
	if (d->inflight[pid % BENCH_MQTT_INFLIGHT] != 0)
		load_count_error("mqtt_inflight_full");
	d->inflight[pid % BENCH_MQTT_INFLIGHT] = slot + 1;
	p[0] = 0x32;		/* PUBLISH, QoS 1 */
	n = 1 + put_len(p + 1, rem);
	n += put_str(p + n, topic, tl);
	p[n++] = (unsigned char)(pid >> 8);
	p[n++] = (unsigned char)pid;
	memcpy(p + n, cid, cl);
	n += cl;
	p[n++] = ' ';
	memcpy(p + n, body, (size_t)B.o.body_bytes);
	return n + (size_t)B.o.body_bytes;
}

int
mqtt_pending(const struct dev *d)
{
	if (d->state == DEV_AUTH)
		return d->step == 0 || d->step == 2;
	return d->state == DEV_READY && (d->qhead != d->qtail ||
	    d->pahead != d->patail || d->ping_due);
}

size_t
mqtt_write(struct dev *d, unsigned char *buf, size_t cap)
{
	size_t n = 0, k;

	if (d->state == DEV_AUTH) {
		if (d->step == 0) {
			d->step = 1;
			if (d->inflight == NULL && ((d->inflight = calloc(
			    BENCH_MQTT_INFLIGHT, sizeof(*d->inflight))) ==
			    NULL || (d->puback = calloc(PUBACKQ,
			    sizeof(*d->puback))) == NULL))
				return 0;
			return connect_pkt(d, buf);
		}
		if (d->step == 2) {
			d->step = 3;
			return subscribe_pkt(d, buf);
		}
		return 0;
	}
	if (d->state != DEV_READY)
		return 0;
	while (d->pahead != d->patail && n + 4 <= cap) {
		uint16_t pid = d->puback[d->pahead++ % PUBACKQ];
		buf[n++] = 0x40;
		buf[n++] = 2;
		buf[n++] = (unsigned char)(pid >> 8);
		buf[n++] = (unsigned char)pid;
	}
	if (d->ping_due && n + 2 <= cap) {
		d->ping_due = 0;
		buf[n++] = 0xc0;
		buf[n++] = 0;
	}
	while (d->qhead != d->qtail) {
		k = publish_pkt(d, d->q[d->qhead % BENCH_SENDQ], buf + n,
		    cap - n);
		if (k == 0)
			break;
		d->qhead++;
		n += k;
	}
	return n;
}

/* One whole packet: type byte t, body v[0..len). */
static int
packet_in(struct dev *d, unsigned t, const unsigned char *v, size_t len,
    double now)
{
	const unsigned char *sp;
	size_t tl, off;
	uint16_t pid;
	uint32_t slot;

	switch (t >> 4) {
	case 2:		/* CONNACK */
		if (len < 2 || v[1] != 0) {
			log_warnx("%s: CONNACK refused (%d)", d->user,
			    len < 2 ? -1 : v[1]);
			return -1;
		}
		d->step = 2;
		conn_kick(d);
		return 0;
	case 9:		/* SUBACK */
		if (len < 3 || v[2] == 0x80) {
			log_warnx("%s: SUBSCRIBE refused", d->user);
			return -1;
		}
		d->step = 4;
		bench_dev_ready(d);
		return 0;
	case 4:		/* PUBACK */
		if (len < 2)
			return -1;
		pid = (uint16_t)(v[0] << 8 | v[1]);
		slot = d->inflight[pid % BENCH_MQTT_INFLIGHT];
		d->inflight[pid % BENCH_MQTT_INFLIGHT] = 0;
		if (slot != 0)
			load_ack_slot(slot - 1, now);
		return 0;
	case 3:		/* PUBLISH */
		if (len < 2)
			return -1;
		tl = (size_t)(v[0] << 8 | v[1]);
		off = 2 + tl;
		if (((t >> 1) & 3) != 0) {
			if (off + 2 > len)
				return -1;
			pid = (uint16_t)(v[off] << 8 | v[off + 1]);
			off += 2;
			if (d->patail - d->pahead < PUBACKQ)
				d->puback[d->patail++ % PUBACKQ] = pid;
			conn_kick(d);
		}
		if (off > len)
			return -1;
		sp = memchr(v + off, ' ', len - off);
		load_delivered(d, (const char *)v + off, sp ?
		    (size_t)(sp - (v + off)) : len - off, now);
		return 0;
	case 13:	/* PINGRESP */
		return 0;
	default:
		B.bad_frames++;
		return 0;
	}
}

int
mqtt_rx(struct dev *d, const unsigned char *in, size_t len)
{
	double now = bench_now();
	size_t pos = 0, rem, mult, hl;
	unsigned char *p;

	if (d->rx_len + len > d->rx_cap) {
		size_t cap = (d->rx_len + len) * 2 + 256;
		if (cap > RX_MAX || (p = realloc(d->rx, cap)) == NULL)
			return -1;
		d->rx = p;
		d->rx_cap = cap;
	}
	memcpy(d->rx + d->rx_len, in, len);
	d->rx_len += len;
	p = d->rx;
	for (;;) {
		if (d->rx_len - pos < 2)
			break;
		rem = 0;
		mult = 1;
		for (hl = 1; hl < 5 && pos + hl < d->rx_len; hl++) {
			rem += (p[pos + hl] & 127) * mult;
			mult *= 128;
			if (!(p[pos + hl] & 128))
				break;
		}
		if (hl == 5)
			return -1;
		if (pos + hl >= d->rx_len || (p[pos + hl] & 128))
			break;		/* length not all here yet */
		if (pos + 1 + hl + rem > d->rx_len)
			break;
		if (packet_in(d, p[pos], p + pos + 1 + hl, rem, now) == -1)
			return -1;
		pos += 1 + hl + rem;
	}
	if (pos > 0) {
		memmove(p, p + pos, d->rx_len - pos);
		d->rx_len -= pos;
	}
	return 0;
}
