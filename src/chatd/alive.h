/*
 * alive: chatd's own liveness check of its WebSockets, in place of
 * libwebsockets' validity timer (which ws.c turns off).
 *
 * A connection that has sent nothing (no frame, no pong) for half of
 * presence_timeout is sent a PING; one still silent at presence_timeout
 * is hung up on without a close frame: a silent drop, as presence_link
 * counts it.
 *
 * Why not lws's: lws 4.1.6 keeps every connection's validity deadline in
 * one sorted list and inserts by walking it from the head, so each ping
 * and each pong cost a walk of every connection; an idle chatd with
 * thousands of connections spent most of its CPU there.  Here every
 * deadline is "last heard + a constant", so two plain lists kept in the
 * order connections were last heard (not yet pinged; pinged) are already
 * in deadline order: hearing from a connection moves it to the tail, and
 * one ev_timer watches the two heads.  Every step is O(1).
 */
#ifndef CHATD_ALIVE_H
#define CHATD_ALIVE_H

#include <ev.h>

struct conn;

/* The links and times a connection carries for this (in struct conn). */
struct alive {
	struct conn	*next, *prev;
	ev_tstamp	 heard;		/* when it last sent anything */
	unsigned char	 list;		/* 0 none, 1 not pinged, 2 pinged */
	unsigned char	 ping_due;	/* a PING waits for WRITEABLE */
};

/* Silence of hangup seconds hangs up; a PING goes out at half of it. */
void alive_init(struct ev_loop *loop, double hangup);
/* A new connection: heard now. */
void alive_add(struct conn *c);
/* c sent a frame or a pong. */
void alive_heard(struct conn *c);
/* Writes c's PING now (lws_write; from WRITEABLE when ping_due): 0, or
 * -1 if the write failed.  Its PONG echoes a byte, so lws reports it. */
int alive_write_ping(struct conn *c);
/* c is closed: no more deadlines for it. */
void alive_remove(struct conn *c);
/* Counters for the status op. */
unsigned long alive_pings(void);
unsigned long alive_hangups(void);
void alive_stop(void);

#endif
