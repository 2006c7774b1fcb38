//go:build !race

package record

// raceBuild: see race_on_test.go.
const raceBuild = false
