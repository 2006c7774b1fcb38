//go:build cgo

package main

/*
#cgo LDFLAGS: -lpam
#include <stdlib.h>
#include "ghpam.h"
*/
import "C"

import (
	"errors"
	"unsafe"
)

func main() {} // required by -buildmode=c-shared

func cstr(p *C.char) string {
	if p == nil {
		return ""
	}
	defer C.free(unsafe.Pointer(p))
	return C.GoString(p)
}

//export goAuthenticate
func goAuthenticate(pamh *C.pam_handle_t, flags C.int, argc C.int, argv **C.char) C.int {
	args := make([]string, 0, int(argc))
	for i := 0; i < int(argc); i++ {
		args = append(args, cstr(C.gh_arg(argv, C.int(i))))
	}
	name := C.CString("GATEHOUSE_TICKET")
	defer C.free(unsafe.Pointer(name))
	say := func(msg string) {
		m := C.CString(msg)
		defer C.free(unsafe.Pointer(m))
		var rc C.int
		C.free(unsafe.Pointer(C.gh_converse(pamh, C.PAM_ERROR_MSG, m, &rc)))
	}
	e := pamEnv{
		Service: cstr(C.gh_get_item(pamh, C.PAM_SERVICE)),
		User:    cstr(C.gh_get_user(pamh)),
		RUser:   cstr(C.gh_get_item(pamh, C.PAM_RUSER)),
		RHost:   cstr(C.gh_get_item(pamh, C.PAM_RHOST)),
		TTY:     cstr(C.gh_get_item(pamh, C.PAM_TTY)),
		Ticket:  cstr(C.gh_getenv(pamh, name)),
		Say:     say,
		Prompt: func(msg string, echo bool) (string, error) {
			m := C.CString(msg)
			defer C.free(unsafe.Pointer(m))
			style := C.int(C.PAM_PROMPT_ECHO_OFF)
			if echo {
				style = C.PAM_PROMPT_ECHO_ON
			}
			var rc C.int
			p := C.gh_converse(pamh, style, m, &rc)
			if rc != C.PAM_SUCCESS || p == nil {
				if p != nil {
					C.free(unsafe.Pointer(p))
				}
				return "", errors.New("the conversation returned nothing")
			}
			return cstr(p), nil
		},
	}
	if e.Ticket == "" {
		e.Ticket = ticketFromExecEnv()
	}
	e.Program = program()
	if e.Service == "sudo" || e.Program == "sudo" {
		e.Command = sudoCommand()
	}
	if authenticate(args, e) {
		return C.PAM_SUCCESS
	}
	return C.PAM_AUTH_ERR
}
