/*
 * presence: chatd's glue to presenced, through presence_link.c (which
 * batches the device events, coalesces beats and re-announces every device
 * on each connect; see presence_link.h).
 *
 * What this file adds: which connections here belong to a user (an index
 * user -> its connections, kept as they authenticate and go), so a change
 * presenced pushes for a list of users becomes one frame, built once,
 * queued to each of their devices; and the friends' presence a device gets
 * on auth.
 */
#include <stdio.h>
#include <string.h>

#include "chatd.h"
#include "droppush.h"
#include "json.h"
#include "presence_link.h"

#define FRIENDS_TIMEOUT	5000	/* ms */

static struct presence_link *pl;
static struct strmap users;	/* user -> first struct conn of the user */

void
presence_online(struct conn *c)
{
	struct conn *first = strmap_get(&users, c->user, strlen(c->user));

	c->unext = first;
	c->uprev = NULL;
	if (first != NULL)
		first->uprev = c;
	if (strmap_put(&users, c->user, strlen(c->user), c) == STRMAP_NOMEM)
		c->unext = NULL;
	c->indexed = 1;
	presence_link_connect(pl, c->user, c->device);
}

void
presence_offline(struct conn *c, const char *kind)
{
	if (!c->indexed)
		return;
	c->indexed = 0;
	/* The map's key is the head's own name: hand it to the next. */
	if (c->uprev != NULL)
		c->uprev->unext = c->unext;
	else if (c->unext != NULL)
		strmap_put(&users, c->unext->user, strlen(c->unext->user),
		    c->unext);
	else
		strmap_del(&users, c->user, strlen(c->user));
	if (c->unext != NULL)
		c->unext->uprev = c->uprev;
	c->unext = c->uprev = NULL;
	if (strcmp(kind, "bye") == 0)
		presence_link_bye(pl, c->user, c->device);
	else if (strcmp(kind, "close") == 0)
		presence_link_close(pl, c->user, c->device);
	else {
		presence_link_drop(pl, c->user, c->device);
		/* what went to the dead socket may be owed a push */
		if (!presence_user_here(c->user))
			droppush_dropped(c->user, c->device, c->since_ms,
			    c->last_id);
	}
}

int
presence_user_here(const char *user)
{
	return strmap_get(&users, user, strlen(user)) != NULL;
}

void
presence_heard(struct conn *c)
{
	if (c->indexed)
		presence_link_activity(pl, c->user, c->device);
}

static void
on_push(void *arg, const char *const *to, size_t nto, const char *frame,
    size_t len)
{
	struct wsframe *f = wsframe_new(frame, len, 0);
	(void)arg;

	if (f == NULL)
		return;
	for (size_t i = 0; i < nto; i++)
		for (struct conn *c = strmap_get(&users, to[i], strlen(to[i]));
		    c != NULL; c = c->unext)
			conn_push(c, f);
	wsframe_unref(f);
}

static void
on_friends(void *arg, jv reply)
{
	struct conn *c = arg;
	jv list = jv_object_get(jv_copy(reply), jv_string("presence"));

	if (c->wsi != NULL && jv_get_kind(list) == JV_KIND_ARRAY) {
		jv_array_foreach(list, i, p)
			conn_push_jv(c, jv_object_merge(jv_object_set(
			    jv_object(), jv_string("type"),
			    jv_string("presence")), p));
	}
	jv_free(list);
	jv_free(reply);
	conn_unref(c);
}

void
presence_friends(struct conn *c)
{
	jv st = presence_link_status(pl);
	int up = json_bool(st, "connected", 0);

	jv_free(st);
	if (!up)	/* no presenced: nobody to ask, and nothing to wait for */
		return;
	conn_ref(c);
	if (presence_link_friends(pl, c->user, FRIENDS_TIMEOUT, on_friends,
	    c) == -1)
		conn_unref(c);
}

jv
presence_status(void)
{
	return jv_object_set(presence_link_status(pl), jv_string("droppush"),
	    droppush_status());
}

int
presence_start(char *err, size_t errlen)
{
	strmap_init(&users);
	if ((pl = presence_link_new(chatd.loop, chatd.name, on_push,
	    NULL)) == NULL) {
		snprintf(err, errlen, "unable to set up the presenced link");
		return -1;
	}
	return droppush_start(err, errlen);
}

void
presence_stop(void)
{
	droppush_stop();
	presence_link_free(pl);
	pl = NULL;
	strmap_free(&users);
}
