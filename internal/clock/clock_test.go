package clock

import (
	"testing"
	"time"
)

func TestFakeAdvanceFiresDueTimersOnly(t *testing.T) {
	var c Fake
	start := c.Now()
	fired := make(chan string, 3)
	c.AfterFunc(time.Hour, func() { fired <- "hour" })
	c.AfterFunc(2*time.Hour, func() { fired <- "two hours" })
	stopped := c.AfterFunc(30*time.Minute, func() { fired <- "stopped" })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop of a pending timer: want true once, then false")
	}
	c.Advance(61 * time.Minute)
	if got := <-fired; got != "hour" {
		t.Fatalf("fired %q, want hour", got)
	}
	select {
	case got := <-fired:
		t.Fatalf("%q fired before its time", got)
	case <-time.After(50 * time.Millisecond):
	}
	if d := c.Now().Sub(start); d < 61*time.Minute || d > 62*time.Minute {
		t.Fatalf("the clock moved by %v, want 61m", d)
	}
	c.Advance(time.Hour)
	if got := <-fired; got != "two hours" {
		t.Fatalf("fired %q, want two hours", got)
	}
}

func TestFakeTimerFiresOnRealTimeToo(t *testing.T) {
	var c Fake
	fired := make(chan struct{})
	tm := c.AfterFunc(10*time.Millisecond, func() { close(fired) })
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("a fake timer did not fire after its span of real time")
	}
	if tm.Stop() {
		t.Fatal("Stop after firing reported a cancel")
	}
	c.Advance(time.Hour) // fires nothing twice (close would panic)
}

func TestAfterAndSystem(t *testing.T) {
	var c Fake
	ch, _ := After(&c, time.Minute)
	c.Advance(time.Minute)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("After did not deliver once the clock moved")
	}
	if _, ok := Or(nil).(System); !ok {
		t.Fatal("Or(nil) is not the system clock")
	}
	ch, tm := After(System{}, time.Hour)
	if !tm.Stop() {
		t.Fatal("System timer: Stop of a pending timer reported false")
	}
	select {
	case <-ch:
		t.Fatal("a stopped timer delivered")
	default:
	}
}
