/*
 * deliver: the hot half of upstream.c's deliver(), without jv.
 *
 * A delivery line carries the frame as chat-route built it, as its last
 * member; it becomes one shared wsframe, cut from the line's bytes, and
 * each device named in "devs" that is connected here gets a reference
 * (sync_deliver decides whether to write, hold or drop it).  At 10k msg/s
 * parsing these lines with libjq was 9% of chatd's CPU.
 */
#include <string.h>

#include "chatd.h"
#include "deliver.h"
#include "id.h"
#include "jflat.h"

int
deliver_line(void *arg, const char *line, size_t len)
{
	struct jflat f;
	const struct jflat_val *devs, *frame, *mid;
	struct jflat_val d;
	struct wsframe *w;
	const char *ev;
	size_t evlen, pos = 0;
	uint64_t id = 0;

	(void)arg;
	if (jflat_parse(&f, line, len) == -1 ||
	    (ev = jflat_str(&f, "ev", &evlen)) == NULL || evlen != 7 ||
	    memcmp(ev, "deliver", 7) != 0 ||
	    (devs = jflat_get(&f, "devs")) == NULL || devs->type != JF_ARRAY ||
	    (frame = jflat_get(&f, "frame")) == NULL ||
	    frame->type != JF_OBJECT)
		return 0;
	if ((mid = jflat_get(&f, "mid")) != NULL && (mid->type != JF_STRING ||
	    mid->nesc > 0 || id_parse(mid->p + 1, mid->len - 2, &id) == -1))
		return 0;
	if ((w = wsframe_new(frame->p, frame->len, id)) == NULL)
		return 1;	/* out of memory: the device resyncs later */
	while (jflat_array_next(devs, &pos, &d)) {
		struct conn *c;
		if (d.type == JF_STRING && d.nesc == 0 &&
		    (c = conn_lookup(d.p + 1, d.len - 2)) != NULL)
			sync_deliver(c, w);
	}
	wsframe_unref(w);
	return 1;
}
