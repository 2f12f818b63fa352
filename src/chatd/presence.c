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
 *
 * presenced may be sharded by user (presence_shards N > 1): then there is
 * one link per shard k, to socket presence-k, and a device's events go on
 * the link of its user's shard (lib/shard.h), so each link announces, and
 * re-announces when it reconnects, only the devices of its shard.  Events
 * pushed back arrive on any link; they name users, found here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "conf.h"
#include "droppush.h"
#include "json.h"
#include "shard.h"
#include "presence_link.h"

#define FRIENDS_TIMEOUT	5000	/* ms */

static struct presence_link **links;	/* one per presence shard */
static unsigned nlinks;
static struct strmap users;	/* user -> first struct conn of the user */

/* The link of user's shard. */
static struct presence_link *
link_of(const char *user)
{
	return links[shard_of(user, strlen(user), nlinks)];
}

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
	presence_link_connect(link_of(c->user), c->user, c->device);
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
	struct presence_link *pl = link_of(c->user);
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
		presence_link_activity(link_of(c->user), c->user, c->device);
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
	struct presence_link *pl = link_of(c->user);
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

/* Adds each number of one link's status (borrowed) into sum, and ANDs
 * its "connected". */
static jv
add_status(jv sum, jv one)
{
	jv_object_foreach(one, k, v) {
		jv had = jv_object_get(jv_copy(sum), jv_copy(k));
		if (jv_get_kind(v) == JV_KIND_NUMBER)
			v = jv_number(jv_number_value(v) + (jv_get_kind(had) ==
			    JV_KIND_NUMBER ? jv_number_value(had) : 0));
		else if (jv_get_kind(had) == JV_KIND_FALSE)
			v = (jv_free(v), jv_false());
		jv_free(had);
		sum = jv_object_set(sum, k, v);
	}
	return sum;
}

jv
presence_status(void)
{
	jv st;

	if (nlinks == 1)
		st = presence_link_status(links[0]);
	else {
		jv each = jv_array();
		st = jv_object();
		for (unsigned k = 0; k < nlinks; k++) {
			jv one = presence_link_status(links[k]);
			st = add_status(st, one);
			each = jv_array_append(each, one);
		}
		st = jv_object_set(st, jv_string("shards"), each);
	}
	return jv_object_set(st, jv_string("droppush"), droppush_status());
}

int
presence_start(char *err, size_t errlen)
{
	long long n = conf_int("presence_shards");

	if (n < 1 || n > SHARD_MAX) {
		snprintf(err, errlen, "presence_shards must be 1 to %d",
		    SHARD_MAX);
		return -1;
	}
	strmap_init(&users);
	nlinks = (unsigned)n;
	if ((links = calloc(nlinks, sizeof(*links))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned k = 0; k < nlinks; k++) {
		char sock[32] = "presence";
		if (nlinks > 1)
			snprintf(sock, sizeof(sock), "presence-%u", k);
		if ((links[k] = presence_link_new(chatd.loop, chatd.name, sock,
		    on_push, NULL)) == NULL) {
			snprintf(err, errlen, "unable to set up the presenced "
			    "link '%s'", sock);
			return -1;
		}
	}
	return droppush_start(err, errlen);
}

void
presence_stop(void)
{
	droppush_stop();
	for (unsigned k = 0; k < nlinks; k++)
		presence_link_free(links[k]);
	free(links);
	links = NULL;
	nlinks = 0;
	strmap_free(&users);
}
