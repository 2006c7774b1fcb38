//go:build race

package record

// raceBuild: this test binary runs under the race detector, whose sync.Pool drops one Put in
// four on purpose (sync/pool.go: "Randomly drop x on floor"), so every pooled chunk buffer
// is allocated again a quarter of the time: allocation counts measure the detector there.
const raceBuild = true
