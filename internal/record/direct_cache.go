package record

import (
	"sync"
	"time"
)

// stages hands out the direct-I/O stages. A few stay in a cache of their own past garbage
// collections, which empty stagePool: in a bulk relay the collector runs every ~32 MiB relayed
// (x/crypto allocates a buffer per SSH packet), and each stage the pool dropped was mapped again
// and faulted in afresh, a 2 MiB huge page zeroed by the kernel (perf of the relay, random
// output: clear_page_erms under chunkSpace, a tenth of the recorder's own CPU, for 6 to 13 new
// stages per 512 MiB). The cache gives them to the pool (to be dropped, as before) once no stage
// was taken or given back for stageCacheIdle: a node whose recordings went quiet keeps none.
var stages = &stageCache{max: stageCacheMax, idle: stageCacheIdle}

// stageCacheMax stages are kept: two streaming recordings' worth (each holds one stage being
// filled and one being written).
const stageCacheMax = 4

// stageCacheIdle is how long the cache keeps its stages without use.
const stageCacheIdle = 30 * time.Second

type stageCache struct {
	max  int
	idle time.Duration

	mu    sync.Mutex
	free  []*[]byte
	used  bool // a stage was taken or given back since the timer was armed
	timer *time.Timer
	armed bool
}

// get returns an empty stage: a cached one, or one from stagePool.
func (c *stageCache) get() *[]byte {
	c.mu.Lock()
	if n := len(c.free); n > 0 {
		s := c.free[n-1]
		c.free[n-1] = nil
		c.free = c.free[:n-1]
		c.used = true
		c.mu.Unlock()
		return s
	}
	c.mu.Unlock()
	return stagePool.Get().(*[]byte)
}

// put gives a stage back: to the cache while it has room, to stagePool otherwise.
func (c *stageCache) put(s *[]byte) {
	*s = (*s)[:0]
	c.mu.Lock()
	if len(c.free) < c.max {
		c.free = append(c.free, s)
		c.used = true
		if !c.armed {
			c.armed = true
			if c.timer == nil {
				c.timer = time.AfterFunc(c.idle, c.trim)
			} else {
				c.timer.Reset(c.idle)
			}
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	stagePool.Put(s)
}

// trim is the idle timer: it hands the cached stages to stagePool once none was used for idle.
func (c *stageCache) trim() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.used {
		c.used = false
		c.timer.Reset(c.idle)
		return
	}
	for i, s := range c.free {
		stagePool.Put(s)
		c.free[i] = nil
	}
	c.free = c.free[:0]
	c.armed = false
}

// cached is how many stages the cache holds (tests).
func (c *stageCache) cached() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.free)
}
