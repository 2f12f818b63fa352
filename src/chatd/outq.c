/*
 * outq: outgoing frames and the FIFO that holds them per connection.
 *
 * A frame is built once and shared: a group message reaching 100 members
 * on this server is one buffer with 100 references, not 100 copies.  The
 * FIFO is a ring of pointers that grows by doubling and never shrinks, so a
 * busy connection stops allocating after warm-up; its byte count is what
 * send_queue_max bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "chatd.h"

struct wsframe *
wsframe_new(const char *data, size_t len, uint64_t id)
{
	struct wsframe *f;

	if (len > UINT32_MAX || (f = malloc(sizeof(*f) + LWS_PRE + len)) == NULL)
		return NULL;
	f->ref = 1;
	f->len = (uint32_t)len;
	f->id = id;
	memcpy(f->buf + LWS_PRE, data, len);
	return f;
}

struct wsframe *
wsframe_jv(jv v, uint64_t id)
{
	if (!jv_is_valid(v)) {
		jv_free(v);
		return NULL;
	}
	jv s = jv_dump_string(v, 0);
	struct wsframe *f = wsframe_new(jv_string_value(s),
	    (size_t)jv_string_length_bytes(jv_copy(s)), id);
	jv_free(s);
	return f;
}

void
wsframe_unref(struct wsframe *f)
{
	if (f != NULL && --f->ref == 0)
		free(f);
}

int
fq_push(struct fq *q, struct wsframe *f)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 8;
		struct wsframe **v = malloc(cap * sizeof(*v));
		if (v == NULL)
			return -1;
		for (size_t i = 0; i < q->n; i++)
			v[i] = q->v[(q->head + i) & (q->cap - 1)];
		free(q->v);
		q->v = v;
		q->cap = cap;
		q->head = 0;
	}
	q->v[(q->head + q->n) & (q->cap - 1)] = f;
	q->n++;
	q->bytes += f->len;
	return 0;
}

struct wsframe *
fq_pop(struct fq *q)
{
	if (q->n == 0)
		return NULL;
	struct wsframe *f = q->v[q->head];
	q->head = (q->head + 1) & (q->cap - 1);
	q->n--;
	q->bytes -= f->len;
	return f;
}

void
fq_clear(struct fq *q)
{
	struct wsframe *f;

	while ((f = fq_pop(q)) != NULL)
		wsframe_unref(f);
	free(q->v);
	memset(q, 0, sizeof(*q));
}
