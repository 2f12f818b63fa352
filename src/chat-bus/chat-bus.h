/*
 * chat-bus: carries the stack's NDJSON lines between a Unix socket and NATS
 * subjects, so an unchanged program on one machine reaches a daemon on
 * another (chat-bus(1), chat-scaling(7)).
 *
 *   serve NAME   the local daemon NAME's requests, served on chat.NAME.0
 *   attach NAME  a local socket NAME.sock whose requests go to chat.NAME.0
 *   call SUBJ    one request per argument or stdin line; prints replies
 *   echo SUBJ    answers each request with itself (to measure NATS alone)
 *   bench SUBJ   round trips and throughput of requests to SUBJ
 *
 * Files: main.c (options and modes), serve.c, attach.c, call.c (call and
 * echo), bench.c.
 */
#ifndef CHAT_BUS_PROG_H
#define CHAT_BUS_PROG_H

#include <jv.h>

struct ev_loop;
struct bus;

struct busopts {
	const char	*urls;		/* --bus or conf "bus" */
	const char	*subject;	/* --subject, or chat.NAME.0 */
	const char	*queue;		/* --queue, or the subject */
	const char	*sock;		/* --sock, or $CHAT_RUN/NAME.sock */
	int		 timeout_ms;	/* --timeout */
	int		 resend_ms;	/* --resend */
	long		 count;		/* bench -n */
	long		 inflight;	/* bench -c */
	const char	*req;		/* bench --req */
};
extern struct busopts bo;

typedef int busmode_fn(int argc, char **argv);
busmode_fn mode_serve, mode_attach, mode_call, mode_echo, mode_bench;

/* main.c: connects to bo.urls as client name on loop; exits 100 if no bus
 * is configured or the URL is bad. */
struct bus *bus_connect(struct ev_loop *loop, const char *name);
/* The default subject of service name: chat.NAME.0 in buf. */
const char *default_subject(const char *name, char *buf, size_t len);
/* A reply to a bus.status request (consumes id): the bus counters. */
jv bus_status_reply(struct bus *b, jv id);
/* Stops the loop on SIGTERM and SIGINT. */
void stop_on_signals(struct ev_loop *loop);

#endif
