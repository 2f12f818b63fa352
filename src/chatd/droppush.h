/*
 * droppush: a device that vanished without a word is told, by push, what it
 * was sent and never confirmed (RELIABILITY.md row 13).
 *
 * chat-route pushes only to users with no online device.  A device whose
 * network died still counts as online until chatd hangs up on it
 * (presence_timeout), and what chatd wrote to its socket meanwhile went
 * nowhere.  When such a connection ends in a drop, chatd looks the device
 * up: if it has a push registration and its cursor is below messages from
 * others that arrived while it was connected, chat-push gets one job for
 * the newest of them, within a few store round trips of the hangup.  A
 * device that reconnects first (on this chatd) is not pushed; one that
 * reconnects later has its jobs cancelled by chat-route as usual.
 */
#ifndef DROPPUSH_H
#define DROPPUSH_H

#include <stdint.h>

#include <jv.h>

/* Connects to chat-push (and keeps trying); 0 or -1 with err. */
int droppush_start(char *err, size_t errlen);
void droppush_stop(void);
/* The connection of user/device, authenticated at since_ms, was dropped
 * after being written messages up to last_id. */
void droppush_dropped(const char *user, const char *device, uint64_t since_ms,
    uint64_t last_id);
/* Counters for chatd's status op. */
jv droppush_status(void);
/* presence.c: 1 if a connection of user is authenticated here. */
int presence_user_here(const char *user);

#endif
