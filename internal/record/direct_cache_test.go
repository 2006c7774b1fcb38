package record

import (
	"testing"
	"time"
)

// TestStageCacheKeepsFewAndDropsWhenIdle: the stage cache keeps at most its max of the stages
// given back (the rest go to the pool), gives them out again before the pool's, and hands them
// all to the pool once none was used for its idle time: a node whose recordings went quiet
// keeps none.
func TestStageCacheKeepsFewAndDropsWhenIdle(t *testing.T) {
	c := &stageCache{max: 2, idle: 20 * time.Millisecond}
	a, b, d := heapStage(), heapStage(), heapStage()
	c.put(a)
	c.put(b)
	c.put(d)
	if n := c.cached(); n != 2 {
		t.Fatalf("%d stages cached, want 2", n)
	}
	if s := c.get(); s != b {
		t.Fatal("get did not give back the last cached stage")
	}
	c.put(b)
	deadline := time.Now().Add(10 * time.Second)
	for c.cached() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d stages still cached long after their last use", c.cached())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s := c.get(); s == nil || len(*s) != 0 || cap(*s) < directStage {
		t.Fatal("an empty cache gave no usable stage")
	}
}
