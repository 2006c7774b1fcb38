//go:build !cgo

package main

import (
	"fmt"
	"os"
)

// Without cgo there is no PAM module to build; this keeps `CGO_ENABLED=0 go build ./...` working.
func main() {
	fmt.Fprintln(os.Stderr, "pam_gatehouse is a PAM module: build it with cgo and -buildmode=c-shared")
	os.Exit(1)
}
