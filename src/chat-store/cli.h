/*
 * cli: chat-store's command-line modes over the database directly, for
 * backups, pipelines and inspection: dump, export, import, get.  Each
 * opens the database itself and so refuses (exit 111) while a running
 * chat-store holds it, without waiting.
 */
#ifndef STORE_CLI_H
#define STORE_CLI_H

/* Each takes the mode's arguments (argv[0] is the mode name) and returns
 * the exit status. */
int cli_dump(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_get(int argc, char **argv);
/* repair.c: RepairDB, then a gap report of what is gone (0: none, 1: gaps). */
int cli_repair(int argc, char **argv);

#endif
