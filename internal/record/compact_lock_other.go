//go:build !unix

package record

// lockQueue: no flock here; one gatehouse per data directory is the rule.
func lockQueue(string) (func(), error) { return func() {}, nil }
