package audit

import "context"

// AppendFunc appends one event to the audit log. A non-nil error means the event is not in the
// log: an action that has not happened yet must then be refused (fail closed); one that already
// happened can only be reported (the log counts the failure and alerts).
type AppendFunc func(ctx context.Context, ev Event) error

// Map is f as free-form fields, The Bastion's names as keys: its fields that are set, and Extra
// (for a log line, or a test that reads events as key=value).
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
