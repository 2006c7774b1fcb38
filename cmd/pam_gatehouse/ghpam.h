// C side of pam_gatehouse.so: the PAM entry points (in pam.c) call the Go code, and these
// helpers give the Go code what it needs from libpam. Every returned string is malloc'ed (the
// caller frees it) or NULL.
#ifndef GHPAM_H
#define GHPAM_H
#include <security/pam_appl.h>
#include <security/pam_modules.h>

char *gh_get_item(pam_handle_t *pamh, int item);
char *gh_get_user(pam_handle_t *pamh);
char *gh_getenv(pam_handle_t *pamh, const char *name);
char *gh_converse(pam_handle_t *pamh, int style, const char *msg, int *rc);
char *gh_arg(const char **argv, int i);
#endif
