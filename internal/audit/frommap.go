package audit

import (
	"context"
	"fmt"
	"math"
	"reflect"
)

// AppendFunc appends one event to the audit log. A non-nil error means the event is not in the
// log: an action that has not happened yet must then be refused (fail closed); one that already
// happened can only be reported (the log counts the failure and alerts).
type AppendFunc func(ctx context.Context, ev Event) error

// FromMap turns the old free-form fields into Fields: a key that names a field of Fields (its
// JSON name) fills it when the value has the field's type, anything else goes to Extra as text
// (fmt.Sprint).
//
// It reads each value's kind (a named string type fills a string field, as JSON did) but makes
// no JSON round trip.
//
// Deprecated: a thin adapter for the old map[string]any form of audit events, kept while the
// branches that still write events that way are merged; new code fills Fields itself.
func FromMap(m map[string]any) Fields {
	var f Fields
	extra := map[string]string{}
	for k, v := range m {
		if v == nil && fieldNames[k] {
			continue // a known field left unset, as a JSON null would
		}
		if !f.set(k, v) {
			extra[k] = fmt.Sprint(v)
		}
	}
	if len(extra) > 0 {
		f.Extra = extra
	}
	return f
}

// set fills the field whose JSON name is k with v, if v fits it; it reports whether it did.
func (f *Fields) set(k string, v any) bool {
	str := func(p *string) bool {
		// A named string type too (policy.Factor …), as JSON took it.
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.String {
			return false
		}
		*p = rv.String()
		return true
	}
	integer := func(p *int64) bool {
		n, ok := asInt(v)
		if ok {
			*p = n
		}
		return ok
	}
	small := func(p *int) bool {
		var n int64
		if !integer(&n) || n < math.MinInt || n > math.MaxInt {
			return false
		}
		*p = int(n)
		return true
	}
	flag := func(p *bool) bool {
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Bool {
			return false
		}
		*p = rv.Bool()
		return true
	}
	switch k {
	case "uniqid":
		return str(&f.UniqID)
	case "account":
		return str(&f.Account)
	case "cmdtype":
		return str(&f.CmdType)
	case "allowed":
		var b bool
		if !flag(&b) {
			return false
		}
		f.Allowed = Bool(b)
		return true
	case "ip_from":
		return str(&f.IPFrom)
	case "port_from":
		return small(&f.PortFrom)
	case "ip_bastion":
		return str(&f.IPBastion)
	case "port_bastion":
		return small(&f.PortBastion)
	case "user":
		return str(&f.User)
	case "ip_to":
		return str(&f.IPTo)
	case "port_to":
		return small(&f.PortTo)
	case "host_to":
		return str(&f.HostTo)
	case "plugin":
		return str(&f.Plugin)
	case "params":
		p, ok := v.([]string)
		if ok {
			f.Params = p
		}
		return ok
	case "factor":
		return str(&f.Factor)
	case "result":
		return str(&f.Result)
	case "exit_status":
		var n int
		if !small(&n) {
			return false
		}
		f.ExitStatus = Int(n)
		return true
	case "signal":
		return str(&f.Signal)
	case "duration":
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Float32, reflect.Float64:
			f.Duration = rv.Float()
		default:
			n, ok := asInt(v)
			if !ok {
				return false
			}
			f.Duration = float64(n)
		}
		return true
	case "bytes_in":
		return integer(&f.BytesIn)
	case "bytes_out":
		return integer(&f.BytesOut)
	case "recording_id":
		return str(&f.RecordingID)
	case "recording_sha256":
		return str(&f.RecordingSHA256)
	case "recording_size":
		return integer(&f.RecordingSize)
	case "comment":
		return str(&f.Comment)
	case "stealth":
		return flag(&f.Stealth)
	case "recording_truncated":
		return flag(&f.RecordingTruncated)
	}
	return false
}

// fieldNames are the JSON names of Fields but extra.
var fieldNames = map[string]bool{"uniqid": true, "account": true, "cmdtype": true, "allowed": true, "ip_from": true,
	"port_from": true, "ip_bastion": true, "port_bastion": true, "user": true, "ip_to": true, "port_to": true,
	"host_to": true, "plugin": true, "params": true, "factor": true, "result": true, "exit_status": true, "signal": true,
	"duration": true, "bytes_in": true, "bytes_out": true, "recording_id": true, "recording_sha256": true,
	"recording_size": true, "comment": true, "stealth": true, "recording_truncated": true}

func asInt(v any) (int64, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if rv.Uint() > math.MaxInt64 {
			return 0, false
		}
		return int64(rv.Uint()), true
	case reflect.Float32, reflect.Float64: // a whole number, as JSON would take it
		f := rv.Float()
		if f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

// Map is f as free-form fields, The Bastion's names as keys: its fields that are set, and Extra
// (for an old-form hook or a log line).
func (f Fields) Map() map[string]any {
	m := make(map[string]any, len(f.Extra)+8)
	set := func(k string, v any, ok bool) {
		if ok {
			m[k] = v
		}
	}
	set("uniqid", f.UniqID, f.UniqID != "")
	set("account", f.Account, f.Account != "")
	set("cmdtype", f.CmdType, f.CmdType != "")
	if f.Allowed != nil {
		m["allowed"] = *f.Allowed
	}
	set("ip_from", f.IPFrom, f.IPFrom != "")
	set("port_from", f.PortFrom, f.PortFrom != 0)
	set("ip_bastion", f.IPBastion, f.IPBastion != "")
	set("port_bastion", f.PortBastion, f.PortBastion != 0)
	set("user", f.User, f.User != "")
	set("ip_to", f.IPTo, f.IPTo != "")
	set("port_to", f.PortTo, f.PortTo != 0)
	set("host_to", f.HostTo, f.HostTo != "")
	set("plugin", f.Plugin, f.Plugin != "")
	set("params", f.Params, len(f.Params) > 0)
	set("factor", f.Factor, f.Factor != "")
	set("result", f.Result, f.Result != "")
	if f.ExitStatus != nil {
		m["exit_status"] = *f.ExitStatus
	}
	set("signal", f.Signal, f.Signal != "")
	set("duration", f.Duration, f.Duration != 0)
	set("bytes_in", f.BytesIn, f.BytesIn != 0)
	set("bytes_out", f.BytesOut, f.BytesOut != 0)
	set("recording_id", f.RecordingID, f.RecordingID != "")
	set("recording_sha256", f.RecordingSHA256, f.RecordingSHA256 != "")
	set("recording_size", f.RecordingSize, f.RecordingSize != 0)
	set("comment", f.Comment, f.Comment != "")
	set("stealth", f.Stealth, f.Stealth)
	set("recording_truncated", f.RecordingTruncated, f.RecordingTruncated)
	for k, v := range f.Extra {
		m[k] = v
	}
	return m
}

// With returns f with extra added to (a copy of) its Extra: f itself, and the map it shares
// with other copies, are left alone.
func (f Fields) With(extra map[string]string) Fields {
	x := make(map[string]string, len(f.Extra)+len(extra))
	for k, v := range f.Extra {
		x[k] = v
	}
	for k, v := range extra {
		x[k] = v
	}
	if len(x) == 0 {
		x = nil
	}
	f.Extra = x
	return f
}
