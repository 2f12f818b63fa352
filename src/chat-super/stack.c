/*
 * stack: which programs chat-super runs, from $CHAT_HOME/etc/stack.conf or
 * the built-in stack, in the same line format (see chat-super(1)):
 *
 *   # name    needs         command line
 *   store     -             chat-store
 *   route     store         chat-route
 *
 * Fields are separated by blanks; needs is a comma list or "-"; the command
 * line is the rest of the line, split on blanks, with '...' and "..." for
 * words that hold blanks; leading NAME=value words set the program's
 * environment, as env(1) does (so two chatds can listen on two ports).  A bare program name is looked up in the directory
 * chat-super itself lives in, so a stack always runs the programs built with
 * it, never whatever else is on $PATH.  The result is sorted so that every
 * program comes after everything it needs (a cycle is an error).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "super.h"

static const char builtin_stack[] =
	"store     -      chat-store\n"
	"route     store  chat-route\n"
	"presence  store  presenced\n"
	"push      store  chat-push\n"
	"chatd     route  chatd\n"
	"api       store  chat-api\n";

/* A parsed line before needs are resolved to indexes. */
struct line {
	struct svc	 svc;
	char		 needs[SUPER_MAX_NEEDS][SUPER_NAME_MAX];
	int		 nneeds;
	int		 lineno;
};

static int
valid_name(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return 0;
	return i > 0 && i < SUPER_NAME_MAX;
}

/* The next blank-separated word of *p into out, honouring quotes.  1 and
 * advances *p, 0 at end of line, -1 on an unterminated quote. */
static int
next_word(const char **p, char *out, size_t outlen)
{
	const char *s = *p;
	size_t n = 0;
	char q = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == '\n' || *s == '#')
		return 0;
	for (; *s != '\0' && *s != '\n'; s++) {
		if (q != 0) {
			if (*s == q) {
				q = 0;
				continue;
			}
		} else if (*s == '\'' || *s == '"') {
			q = *s;
			continue;
		} else if (*s == ' ' || *s == '\t')
			break;
		if (n + 1 < outlen)
			out[n++] = *s;
	}
	out[n] = '\0';
	*p = s;
	return q != 0 ? -1 : 1;
}

static int
parse_needs(struct line *l, const char *word, char *err, size_t errlen)
{
	char buf[1024], *tok, *save;

	if (strcmp(word, "-") == 0)
		return 0;
	snprintf(buf, sizeof(buf), "%s", word);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (!valid_name(tok)) {
			snprintf(err, errlen, "bad need '%s'", tok);
			return -1;
		}
		if (l->nneeds == SUPER_MAX_NEEDS) {
			snprintf(err, errlen, "more than %d needs",
			    SUPER_MAX_NEEDS);
			return -1;
		}
		snprintf(l->needs[l->nneeds++], SUPER_NAME_MAX, "%s", tok);
	}
	return 0;
}

/* NAME=value with NAME of [A-Z0-9_], not starting with a digit. */
static int
env_word(const char *w)
{
	size_t i;

	for (i = 0; (w[i] >= 'A' && w[i] <= 'Z') || w[i] == '_' ||
	    (i > 0 && w[i] >= '0' && w[i] <= '9'); i++)
		;
	return i > 0 && w[i] == '=';
}

/* Parses one non-empty line.  0, 1 for a blank or comment line, -1. */
static int
parse_line(struct line *l, const char *text, char *err, size_t errlen)
{
	char word[1024];
	const char *p = text, *cmd;
	int r, argc = 0, nenv = 0;

	memset(l, 0, sizeof(*l));
	if ((r = next_word(&p, word, sizeof(word))) <= 0)
		return r < 0 ? (snprintf(err, errlen, "unterminated quote"), -1)
		    : 1;
	if (!valid_name(word)) {
		snprintf(err, errlen, "bad name '%.40s': use 1 to %d of "
		    "[a-z0-9_-]", word, SUPER_NAME_MAX - 1);
		return -1;
	}
	snprintf(l->svc.name, sizeof(l->svc.name), "%.31s", word);
	if (next_word(&p, word, sizeof(word)) != 1 ||
	    parse_needs(l, word, err, errlen) < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "'%s' has no needs field "
			    "(use '-' for none)", l->svc.name);
		return -1;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	cmd = p;
	while ((r = next_word(&p, word, sizeof(word))) == 1) {
		if (argc == 0 && env_word(word)) {
			if (nenv == SUPER_MAX_ARGS ||
			    (l->svc.env[nenv++] = strdup(word)) == NULL) {
				snprintf(err, errlen, "too many variables");
				return -1;
			}
			continue;
		}
		if (argc == SUPER_MAX_ARGS) {
			snprintf(err, errlen, "more than %d arguments",
			    SUPER_MAX_ARGS);
			return -1;
		}
		if ((l->svc.argv[argc++] = strdup(word)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (r < 0) {
		snprintf(err, errlen, "unterminated quote");
		return -1;
	}
	if (argc == 0) {
		snprintf(err, errlen, "'%s' has no command", l->svc.name);
		return -1;
	}
	snprintf(l->svc.cmdline, sizeof(l->svc.cmdline), "%.*s",
	    (int)strcspn(cmd, "\n"), cmd);
	return 0;
}

/* Resolves argv[0]: a bare name in sp->bindir; skips what is missing. */
static void
resolve(struct super *sp, struct svc *s)
{
	char path[8192];

	if (strchr(s->argv[0], '/') == NULL) {
		snprintf(path, sizeof(path), "%s/%s", sp->bindir, s->argv[0]);
		free(s->argv[0]);
		s->argv[0] = strdup(path);
	}
	s->state = (s->argv[0] != NULL && access(s->argv[0], X_OK) == 0) ?
	    SVC_WAITING : SVC_SKIPPED;
}

/* Orders lines so needs come first (Kahn, keeping file order among equals)
 * and resolves needs to indexes in the ordered array. */
static int
order(struct super *sp, struct line *ls, int n, char *err, size_t errlen)
{
	int placed[SUPER_MAX_SVCS] = { 0 }, pos[SUPER_MAX_SVCS];
	int i, j, k, m, done = 0, progress;

	for (i = 0; i < n; i++)
		for (k = 0; k < ls[i].nneeds; k++) {
			for (j = 0; j < n; j++)
				if (strcmp(ls[j].svc.name, ls[i].needs[k]) == 0)
					break;
			if (j == n) {
				snprintf(err, errlen, "line %d: '%s' needs "
				    "'%s', which is not in the stack",
				    ls[i].lineno, ls[i].svc.name,
				    ls[i].needs[k]);
				return -1;
			}
		}
	while (done < n) {
		progress = 0;
		for (i = 0; i < n; i++) {
			if (placed[i])
				continue;
			for (k = 0; k < ls[i].nneeds; k++) {
				for (j = 0; j < n; j++)
					if (strcmp(ls[j].svc.name,
					    ls[i].needs[k]) == 0)
						break;
				if (!placed[j])
					break;
			}
			if (k < ls[i].nneeds)
				continue;
			placed[i] = 1;
			pos[i] = done;
			sp->svcs[done++] = ls[i].svc;
			progress = 1;
		}
		if (!progress) {
			for (i = 0; placed[i]; i++)
				;
			snprintf(err, errlen, "line %d: '%s' is in a cycle "
			    "of needs", ls[i].lineno, ls[i].svc.name);
			return -1;
		}
	}
	for (i = 0; i < n; i++) {
		struct svc *s = &sp->svcs[pos[i]];

		s->nneeds = ls[i].nneeds;
		for (k = 0; k < ls[i].nneeds; k++)
			for (m = 0; m < n; m++)
				if (strcmp(sp->svcs[m].name,
				    ls[i].needs[k]) == 0)
					s->needs[k] = m;
	}
	sp->n = n;
	return 0;
}

int
stack_load(struct super *sp, const char *path, char *err, size_t errlen)
{
	static struct line ls[SUPER_MAX_SVCS + 1];	/* + the one too many */
	char buf[4096], why[512];
	const char *text = builtin_stack, *nl;
	FILE *f;
	int n = 0, lineno = 0, i, r;

	f = fopen(path, "r");
	if (f == NULL && errno != ENOENT) {
		snprintf(err, errlen, "unable to open '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	snprintf(sp->source, sizeof(sp->source), "%s",
	    f != NULL ? path : "built-in");
	if (f == NULL && *conf_get("bus") != '\0') {
		static char node[4096];
		if (node_stack(node, sizeof(node), why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s", why);
			return -1;
		}
		text = node;
		snprintf(sp->source, sizeof(sp->source), "built-in node "
		    "(bus; node_services '%s')", conf_get("node_services"));
	}
	for (;;) {
		if (f != NULL) {
			if (fgets(buf, sizeof(buf), f) == NULL)
				break;
			if (strchr(buf, '\n') == NULL && !feof(f)) {
				snprintf(err, errlen, "'%s' line %d: longer "
				    "than %zu bytes", sp->source, lineno + 1,
				    sizeof(buf) - 2);
				goto fail;
			}
		} else {
			if (*text == '\0')
				break;
			nl = strchr(text, '\n');
			snprintf(buf, sizeof(buf), "%.*s", (int)(nl - text),
			    text);
			text = nl + 1;
		}
		lineno++;
		why[0] = '\0';
		r = parse_line(&ls[n], buf, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "'%s' line %d: %s", sp->source,
			    lineno, why);
			goto fail;
		}
		if (r > 0)
			continue;
		if (n == SUPER_MAX_SVCS) {
			snprintf(err, errlen, "'%s' line %d: more than %d "
			    "programs", sp->source, lineno, SUPER_MAX_SVCS);
			goto fail;
		}
		for (i = 0; i < n; i++)
			if (strcmp(ls[i].svc.name, ls[n].svc.name) == 0) {
				snprintf(err, errlen, "'%s' line %d: '%s' is "
				    "defined twice", sp->source, lineno,
				    ls[n].svc.name);
				goto fail;
			}
		ls[n].lineno = lineno;
		n++;
	}
	if (f != NULL)
		fclose(f);
	if (n == 0) {
		snprintf(err, errlen, "'%s': no programs", sp->source);
		return -1;
	}
	if (order(sp, ls, n, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "'%s' %s", sp->source, why);
		return -1;
	}
	for (i = 0; i < n; i++) {
		sp->svcs[i].sp = sp;
		sp->svcs[i].ready_fd = -1;
		resolve(sp, &sp->svcs[i]);
	}
	return 0;
fail:
	if (f != NULL)
		fclose(f);
	return -1;
}

void
stack_print(const struct super *sp, FILE *out)
{
	char needs[512];
	int i, k;
	size_t len;

	fprintf(out, "# %s; programs from '%s'\n", sp->source, sp->bindir);
	for (i = 0; i < sp->n; i++) {
		const struct svc *s = &sp->svcs[i];

		needs[0] = '\0';
		for (k = 0, len = 0; k < s->nneeds && len < sizeof(needs); k++)
			len += (size_t)snprintf(needs + len,
			    sizeof(needs) - len, "%s%s", k ? "," : "",
			    sp->svcs[s->needs[k]].name);
		fprintf(out, "%-10s %-14s %s%s\n", s->name,
		    s->nneeds ? needs : "-", s->cmdline,
		    s->state == SVC_SKIPPED ? "   # skipped: not installed" :
		    "");
	}
}
