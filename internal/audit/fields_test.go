package audit

import "testing"

func TestMapAndWith(t *testing.T) {
	f := Fields{Account: "a", PortTo: 22, Allowed: Bool(false), Extra: map[string]string{"k": "v"}}
	m := f.Map()
	if len(m) != 4 || m["account"] != "a" || m["port_to"] != 22 || m["allowed"] != false || m["k"] != "v" {
		t.Fatalf("Map: %v", m)
	}
	g := f.With(map[string]string{"x": "1"})
	if len(f.Extra) != 1 || g.Extra["x"] != "1" || g.Extra["k"] != "v" {
		t.Fatalf("With changed its source or lost a field: %v %v", f.Extra, g.Extra)
	}
	if (Fields{}).With(nil).Extra != nil {
		t.Fatal("With(nil) on no Extra made an empty map")
	}
}
