//go:build cgo

#include <stdlib.h>
#include <string.h>
#include <security/pam_appl.h>
#include <security/pam_modules.h>
#include "ghpam.h"
#include "_cgo_export.h"

char *gh_get_item(pam_handle_t *pamh, int item) {
	const void *v = NULL;
	if (pam_get_item(pamh, item, &v) != PAM_SUCCESS || v == NULL) return NULL;
	return strdup((const char *)v);
}

char *gh_get_user(pam_handle_t *pamh) {
	const char *u = NULL;
	if (pam_get_user(pamh, &u, NULL) != PAM_SUCCESS || u == NULL) return NULL;
	return strdup(u);
}

char *gh_getenv(pam_handle_t *pamh, const char *name) {
	const char *v = pam_getenv(pamh, name);
	if (v == NULL) v = getenv(name); /* sudo: the calling shell's environment */
	return v ? strdup(v) : NULL;
}

/* One question through the application's conversation. NULL with *rc set on any failure,
   including an application that answers nothing. */
char *gh_converse(pam_handle_t *pamh, int style, const char *msg, int *rc) {
	const struct pam_conv *conv = NULL;
	struct pam_message m;
	const struct pam_message *mp = &m;
	struct pam_response *resp = NULL;
	char *out;
	*rc = pam_get_item(pamh, PAM_CONV, (const void **)&conv);
	if (*rc != PAM_SUCCESS) return NULL;
	if (conv == NULL || conv->conv == NULL) { *rc = PAM_CONV_ERR; return NULL; }
	m.msg_style = style;
	m.msg = msg;
	*rc = conv->conv(1, &mp, &resp, conv->appdata_ptr);
	if (*rc != PAM_SUCCESS) {
		if (resp != NULL) {
			if (resp->resp != NULL) { memset(resp->resp, 0, strlen(resp->resp)); free(resp->resp); }
			free(resp);
		}
		return NULL;
	}
	if (resp == NULL) {
		if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) *rc = PAM_CONV_ERR;
		return NULL;
	}
	out = resp->resp;
	free(resp);
	if (out == NULL && (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON)) *rc = PAM_CONV_ERR;
	return out;
}

char *gh_arg(const char **argv, int i) { return argv[i] ? strdup(argv[i]) : NULL; }

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
	return goAuthenticate(pamh, flags, argc, (char **)argv);
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
	(void)pamh; (void)flags; (void)argc; (void)argv;
	return PAM_SUCCESS;
}
