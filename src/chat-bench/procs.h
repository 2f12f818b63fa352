/*
 * procs: what the server processes cost while we load them, from /proc:
 * CPU seconds (utime + stime of every thread, /proc/PID/stat) and resident
 * memory (VmRSS, /proc/PID/status), and the same for chat-bench itself.
 */
#ifndef BENCH_PROCS_H
#define BENCH_PROCS_H

/* Adds the programs chat-super runs, from its status op on
 * $CHAT_RUN/super.sock.  0, or -1 with a logged reason. */
int procs_from_super(void);

/* CPU seconds of process i (-1: chat-bench), or -1 if it is gone. */
double procs_cpu(int i);
/* VmRSS of process i in KiB, or -1 if it is gone. */
long procs_rss_kb(int i);
/* Kernel slab memory in KiB (/proc/meminfo), system wide. */
long procs_slab_kb(void);

#endif
