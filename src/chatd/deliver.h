/*
 * deliver: chat-route's deliver events read without jv (deliver.c).
 */
#ifndef CHATD_DELIVER_H
#define CHATD_DELIVER_H

#include <stddef.h>

/*
 * An ipc_raw_event_fn for the route client: a well-formed
 * {"ev":"deliver","mid"?,"devs":[..],"frame":{..}} is handed to each named
 * device's connection here (1); anything else (0) goes to upstream.c's
 * parsed-event path, which does the same for any line it can read.
 */
int deliver_line(void *arg, const char *line, size_t len);

#endif
