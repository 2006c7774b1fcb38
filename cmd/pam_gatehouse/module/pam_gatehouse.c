/*
 * pam_gatehouse.so: the PAM side of gatehouse's second factor on the servers (docs/pam.md).
 *
 * This module is plain C on purpose. It runs inside sudo's and sshd's own process, and a Go
 * runtime there (a -buildmode=c-shared module) brings threads that take the host's signals:
 * sudo before 1.9.17 can then lose the SIGCHLD of a command that exits at once and hang
 * (sudo-project/sudo#519). So the module only forks and execs the Go helper
 * (pam_gatehouse_helper, cmd/pam_gatehouse), as pam_exec does, talks to it over a socket pair,
 * runs the PAM conversation for it, and waits for that one child by its pid. The helper does
 * the rest (configuration, the ticket, HTTPS to the bastion) in its own process.
 *
 * The protocol, one line each way at a time (values percent-encoded, see gh_encode):
 *   module -> helper: "gatehouse-pam 1", then "pid N", "service S", "user U", "ruser R",
 *                     "rhost H", "tty T", "ticket K" (when PAM or the environment has one),
 *                     "arg A" per module argument, then "end".
 *   helper -> module: "prompt-off TEXT" / "prompt-on TEXT" (answered "answer VALUE", or "none"
 *                     when the conversation gave nothing), "info TEXT" / "error TEXT" (shown, no
 *                     answer), and last "allow" or "deny".
 * PAM_SUCCESS only when the helper said "allow", then closed its end, then exited with status 0.
 * Everything else (no helper, a crash, a signal, a timeout, garbage, an over-long line, EOF
 * before a verdict, too many questions) is PAM_AUTH_ERR: fail closed.
 *
 * Module arguments of its own (not passed on): helper=PATH (default GH_DEFAULT_HELPER; an
 * absolute path to a regular file owned by root and writable by nobody else, in directories
 * likewise, see gh_helper_ok) and wait=SECONDS
 * (how long the helper may stay silent between two messages, default GH_DEFAULT_WAIT).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PAM_SM_AUTH
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#ifndef GH_DEFAULT_HELPER
#define GH_DEFAULT_HELPER "/usr/lib/gatehouse/pam_gatehouse_helper"
#endif
#define GH_DEFAULT_WAIT 660  /* s: the helper's longest honest silence is approval_wait (10m) + a request */
#define GH_MAX_LINE 2048     /* bytes of one line from the helper, LF included */
#define GH_MAX_TEXT 512      /* bytes of a decoded prompt or message */
#define GH_MAX_VALUE 8192    /* bytes of one value sent to the helper (a ticket is ~400) */
#define GH_MAX_STEPS 32      /* prompts and messages in one run */

enum gh_kind { GH_BAD = 0, GH_PROMPT_OFF, GH_PROMPT_ON, GH_INFO, GH_ERROR, GH_ALLOW, GH_DENY };

static int gh_hex(int c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* gh_parse reads one line from the helper (n bytes, its LF removed) into *text (NUL-terminated,
 * cap >= GH_MAX_TEXT + 1; empty when refused). Strict: a known verb, one space, a non-empty text of at most
 * GH_MAX_TEXT decoded bytes, every %XX well-formed, no control byte raw or decoded (the text
 * goes to a terminal); "allow" and "deny" exactly. Anything else is GH_BAD. */
int gh_parse(const char *line, size_t n, char *text, size_t cap) {
	static const struct { const char *verb; int kind; } verbs[] = {
		{"prompt-off", GH_PROMPT_OFF}, {"prompt-on", GH_PROMPT_ON}, {"info", GH_INFO}, {"error", GH_ERROR},
	};
	size_t i, j, vl;
	int kind = GH_BAD;
	if (cap < GH_MAX_TEXT + 1) return GH_BAD;
	text[0] = '\0';
	if (n == 5 && memcmp(line, "allow", 5) == 0) return GH_ALLOW;
	if (n == 4 && memcmp(line, "deny", 4) == 0) return GH_DENY;
	for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		vl = strlen(verbs[i].verb);
		if (n > vl + 1 && memcmp(line, verbs[i].verb, vl) == 0 && line[vl] == ' ') {
			kind = verbs[i].kind;
			break;
		}
	}
	if (kind == GH_BAD) return GH_BAD;
	for (i = vl + 1, j = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= n) goto bad;
			hi = gh_hex((unsigned char)line[i + 1]);
			lo = gh_hex((unsigned char)line[i + 2]);
			if (hi < 0 || lo < 0) goto bad;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || j >= GH_MAX_TEXT) goto bad;
		text[j++] = (char)c;
	}
	text[j] = '\0';
	return kind;
bad:
	/* Nothing of a refused line is left for a caller to show by mistake. */
	explicit_bzero(text, j);
	return GH_BAD;
}

/* gh_encode writes "name value\n" with value percent-encoded (bytes below 0x20, 0x7f and '%'),
 * into a malloc'ed buffer; NULL when value is too long or memory runs out. */
static char *gh_encode(const char *name, const char *value, size_t *outlen) {
	size_t vl = strlen(value), nl = strlen(name), i, o;
	char *out;
	static const char hexd[] = "0123456789ABCDEF";
	if (vl > GH_MAX_VALUE) return NULL;
	out = malloc(nl + 1 + 3 * vl + 2);
	if (out == NULL) return NULL;
	memcpy(out, name, nl);
	o = nl;
	out[o++] = ' ';
	for (i = 0; i < vl; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c < 0x20 || c == 0x7f || c == '%') {
			out[o++] = '%';
			out[o++] = hexd[c >> 4];
			out[o++] = hexd[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '\n';
	*outlen = o;
	return out;
}

static void gh_wipe_free(char *p, size_t n) {
	if (p == NULL) return;
	explicit_bzero(p, n);
	free(p);
}

/* gh_send writes all of buf; MSG_NOSIGNAL: a helper that died must not kill the host with SIGPIPE. */
static int gh_send(int fd, const char *buf, size_t n) {
	while (n > 0) {
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		buf += w;
		n -= (size_t)w;
	}
	return 0;
}

static int gh_field(int fd, const char *name, const char *value) {
	size_t n;
	char *l;
	int rc;
	if (value == NULL) return 0;
	l = gh_encode(name, value, &n);
	if (l == NULL) return -1;
	rc = gh_send(fd, l, n);
	gh_wipe_free(l, n);
	return rc;
}

static long long gh_now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A reader of the helper's lines with a deadline per wait. */
struct gh_reader {
	int fd;
	char buf[GH_MAX_LINE];
	size_t len;
	int eof;
};

/* gh_readline returns 1 with a line (LF removed, into line and n), 0 at a clean EOF (nothing
 * pending), -1 on an error, a timeout, a NUL byte or an over-long line. */
static int gh_readline(struct gh_reader *r, char *line, size_t *n, int wait_s) {
	long long deadline = gh_now_ms() + (long long)wait_s * 1000;
	for (;;) {
		char *nl = memchr(r->buf, '\n', r->len);
		if (nl != NULL) {
			size_t l = (size_t)(nl - r->buf);
			if (memchr(r->buf, '\0', l) != NULL) return -1;
			memcpy(line, r->buf, l);
			*n = l;
			memmove(r->buf, nl + 1, r->len - l - 1);
			r->len -= l + 1;
			return 1;
		}
		if (r->len >= sizeof r->buf) return -1;
		if (r->eof) return r->len == 0 ? 0 : -1;
		long long left = deadline - gh_now_ms();
		if (left <= 0) return -1;
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		int pr = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (pr < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		if (pr == 0) continue;
		ssize_t got = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN) continue;
			return -1;
		}
		if (got == 0) r->eof = 1;
		r->len += (size_t)got;
	}
}

/* One question or message through the application's conversation. For a prompt, returns the
 * answer (malloc'ed) or NULL when the conversation failed or gave nothing. */
static char *gh_converse(pam_handle_t *pamh, int style, const char *msg) {
	const struct pam_conv *conv = NULL;
	struct pam_message m;
	const struct pam_message *mp = &m;
	struct pam_response *resp = NULL;
	char *out;
	if (pam_get_item(pamh, PAM_CONV, (const void **)&conv) != PAM_SUCCESS || conv == NULL || conv->conv == NULL)
		return NULL;
	m.msg_style = style;
	m.msg = msg;
	if (conv->conv(1, &mp, &resp, conv->appdata_ptr) != PAM_SUCCESS) {
		if (resp != NULL) {
			if (resp->resp != NULL) gh_wipe_free(resp->resp, strlen(resp->resp));
			free(resp);
		}
		return NULL;
	}
	if (resp == NULL) return NULL;
	out = resp->resp;
	free(resp);
	return out;
}

static const char *gh_item(pam_handle_t *pamh, int item) {
	const void *v = NULL;
	if (pam_get_item(pamh, item, &v) != PAM_SUCCESS) return NULL;
	return (const char *)v;
}

/* gh_helper_ok: an absolute path to a regular file owned by root, writable by nobody else, in
 * directories (every one up to /, symlinks resolved) owned by root and writable by nobody else
 * unless sticky (/tmp): the module runs it as root, so whoever may replace it may take root. */
static int gh_helper_ok(pam_handle_t *pamh, const char *path) {
	struct stat st;
	char *real, *slash;
	int ok = 1;
	if (path[0] != '/') {
		pam_syslog(pamh, LOG_ERR, "helper %s: not an absolute path", path);
		return 0;
	}
	real = realpath(path, NULL);
	if (real == NULL || stat(real, &st) != 0) {
		pam_syslog(pamh, LOG_ERR, "helper %s: %m", path);
		free(real);
		return 0;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 || (st.st_mode & S_IXUSR) == 0) {
		pam_syslog(pamh, LOG_ERR, "helper %s: must be an executable regular file owned by root, writable only by root", path);
		ok = 0;
	}
	while (ok && (slash = strrchr(real, '/')) != NULL) {
		if (slash == real) slash[1] = '\0'; /* "/" itself, last */
		else slash[0] = '\0';
		if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
		    ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)) {
			pam_syslog(pamh, LOG_ERR, "helper %s: directory %s must be owned by root and writable only by root (or sticky)", path, real);
			ok = 0;
		}
		if (slash == real) break;
	}
	free(real);
	return ok;
}

/* gh_run is the whole exchange; it returns PAM_SUCCESS only on the helper's allow. */
static int gh_run(pam_handle_t *pamh, int sock, int wait_s, int argc, const char **argv, const char *ticket) {
	struct gh_reader *r;
	char line[GH_MAX_LINE], text[GH_MAX_TEXT + 1], pidbuf[32];
	size_t n;
	int i, steps = 0, verdict = GH_BAD, rc;
	const char *user = NULL;

	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS) user = NULL;
	snprintf(pidbuf, sizeof pidbuf, "%ld", (long)getpid());
	if (gh_send(sock, "gatehouse-pam 1\n", 16) != 0 || gh_field(sock, "pid", pidbuf) != 0 ||
	    gh_field(sock, "service", gh_item(pamh, PAM_SERVICE)) != 0 || gh_field(sock, "user", user) != 0 ||
	    gh_field(sock, "ruser", gh_item(pamh, PAM_RUSER)) != 0 || gh_field(sock, "rhost", gh_item(pamh, PAM_RHOST)) != 0 ||
	    gh_field(sock, "tty", gh_item(pamh, PAM_TTY)) != 0 || gh_field(sock, "ticket", ticket) != 0)
		return PAM_AUTH_ERR;
	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "helper=", 7) == 0 || strncmp(argv[i], "wait=", 5) == 0) continue;
		if (gh_field(sock, "arg", argv[i]) != 0) return PAM_AUTH_ERR;
	}
	if (gh_send(sock, "end\n", 4) != 0) return PAM_AUTH_ERR;

	r = calloc(1, sizeof *r);
	if (r == NULL) return PAM_BUF_ERR;
	r->fd = sock;
	rc = PAM_AUTH_ERR;
	for (;;) {
		int got = gh_readline(r, line, &n, wait_s);
		if (got <= 0) break; /* EOF before a verdict, timeout, garbage: no */
		int kind = gh_parse(line, n, text, sizeof text);
		explicit_bzero(line, sizeof line);
		if (kind == GH_BAD) {
			pam_syslog(pamh, LOG_ERR, "the helper sent a malformed line: refused");
			break;
		}
		if (kind == GH_ALLOW || kind == GH_DENY) {
			/* The verdict is the last thing the helper says: nothing may follow it. */
			if (gh_readline(r, line, &n, wait_s) == 0) verdict = kind;
			else pam_syslog(pamh, LOG_ERR, "the helper went on after its verdict: refused");
			break;
		}
		if (++steps > GH_MAX_STEPS) {
			pam_syslog(pamh, LOG_ERR, "the helper asked too many questions: refused");
			break;
		}
		if (kind == GH_INFO || kind == GH_ERROR) {
			/* Shown even under PAM_SILENT, which sudo sets by default (pam_silent): "waiting for
			 * approval" and why a sudo was refused are what the person needs to see. */
			free(gh_converse(pamh, kind == GH_INFO ? PAM_TEXT_INFO : PAM_ERROR_MSG, text));
			continue;
		}
		char *ans = gh_converse(pamh, kind == GH_PROMPT_ON ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF, text);
		int sent;
		if (ans == NULL) {
			sent = gh_send(sock, "none\n", 5);
		} else {
			sent = gh_field(sock, "answer", ans);
			gh_wipe_free(ans, strlen(ans));
		}
		if (sent != 0) break;
	}
	explicit_bzero(r, sizeof *r);
	free(r);
	if (verdict == GH_ALLOW) rc = PAM_SUCCESS;
	return rc;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
	const char *helper = GH_DEFAULT_HELPER, *ticket;
	int wait_s = GH_DEFAULT_WAIT, i, sv[2], status = 0, rc;
	long maxfd;
	struct sigaction dfl, old_chld;
	pid_t pid, w;
	char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	(void)flags; /* PAM_SILENT: see gh_run */

	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "helper=", 7) == 0) {
			helper = argv[i] + 7;
		} else if (strncmp(argv[i], "wait=", 5) == 0) {
			char *end = NULL;
			long v = strtol(argv[i] + 5, &end, 10);
			if (end == argv[i] + 5 || *end != '\0' || v < 1 || v > 3600) {
				pam_syslog(pamh, LOG_ERR, "wait=%s: seconds from 1 to 3600", argv[i] + 5);
				return PAM_AUTH_ERR;
			}
			wait_s = (int)v;
		}
	}
	if (!gh_helper_ok(pamh, helper)) return PAM_AUTH_ERR;
	/* Who opened the session: what the application put in the PAM environment, else this
	 * process's environment (the helper also reads the environment the host started with). */
	ticket = pam_getenv(pamh, "GATEHOUSE_TICKET");
	if (ticket == NULL) ticket = getenv("GATEHOUSE_TICKET");

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		pam_syslog(pamh, LOG_ERR, "socketpair: %m");
		return PAM_AUTH_ERR;
	}
	maxfd = sysconf(_SC_OPEN_MAX);
	if (maxfd < 0 || maxfd > 65536) maxfd = 65536;
	/* As pam_unix does for unix_chkpwd: while our child runs, SIGCHLD gets its default action,
	 * so the host's handler cannot reap it before our waitpid (nor hear of a child it did not make). */
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &old_chld);

	pid = fork();
	if (pid == 0) {
		/* The child: only async-signal-safe calls until execve. */
		char *const cargv[] = {(char *)helper, NULL};
		sigset_t none;
		int fd, devnull;
		if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0) _exit(127);
		devnull = open("/dev/null", O_WRONLY);
		if (devnull < 0 || dup2(devnull, 2) < 0) _exit(127);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
		if (close_range(3, ~0U, 0) != 0)
#endif
			for (fd = 3; fd < maxfd; fd++) close(fd);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* Root all through (sudo runs PAM with the caller as its real uid and gid): the helper
		 * reads the root-only token, the caller may neither signal nor trace it, and none of the
		 * caller's groups follow it. */
		if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0)) _exit(127);
		if (setresgid(getegid(), getegid(), getegid()) != 0 || setresuid(geteuid(), geteuid(), geteuid()) != 0) _exit(127);
		execve(helper, cargv, envp);
		_exit(127);
	}
	close(sv[1]);
	if (pid < 0) {
		pam_syslog(pamh, LOG_ERR, "fork: %m");
		close(sv[0]);
		sigaction(SIGCHLD, &old_chld, NULL);
		return PAM_AUTH_ERR;
	}
	rc = gh_run(pamh, sv[0], wait_s, argc, argv, ticket);
	close(sv[0]);
	if (rc != PAM_SUCCESS) kill(pid, SIGKILL); /* a helper we no longer listen to has nothing to do */
	do {
		w = waitpid(pid, &status, 0);
	} while (w < 0 && errno == EINTR);
	sigaction(SIGCHLD, &old_chld, NULL);
	if (rc != PAM_SUCCESS) return PAM_AUTH_ERR;
	if (w != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		pam_syslog(pamh, LOG_ERR, "the helper said allow but did not exit cleanly: refused");
		return PAM_AUTH_ERR;
	}
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
	(void)pamh; (void)flags; (void)argc; (void)argv;
	return PAM_SUCCESS;
}
