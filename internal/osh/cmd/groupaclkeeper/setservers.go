package groupaclkeeper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
)

// Bounds on groupSetServers' input, so one command cannot hold the bastion's memory.
const (
	maxSetServersBytes   = 1 << 20
	maxSetServersEntries = 10000
)

// parsedList is a server list read from standard input: the valid entries and one sentence per
// bad one.
type parsedList struct {
	Lines   int
	Entries []common.ACLSpec
	Errors  []string
}

// parseServerList reads a server list in either of two forms:
//   - The Bastion's groupSetServers form, one access per line: [USER@]HOST[:PORT][ COMMENT]
//     (no USER or no PORT means any; "[2001:db8::1]:22" for IPv6 with a port);
//   - a JSON array of {ip, user, port, comment} objects, as groupListServers prints them (user
//     and port null, absent or "*" mean any; other keys such as addedBy are ignored).
//
// Every entry is checked as groupAddServer checks it (prefixes up to widestV4/widestV6, 0: any).
// It is pure: host names are resolved afterwards (resolveNames).
func parseServerList(data []byte, widestV4, widestV6 int) parsedList {
	var out parsedList
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("[")) && json.Valid(trimmed) {
		var items []map[string]any
		if err := json.Unmarshal(trimmed, &items); err != nil {
			out.Errors = append(out.Errors, "the JSON input must be an array of {ip, user, port, comment} objects: "+err.Error())
			return out
		}
		for i, it := range items {
			out.Lines++
			in, comment, err := jsonEntry(it)
			if err == nil {
				err = out.add(in, comment, widestV4, widestV6)
			}
			if err != nil {
				out.Errors = append(out.Errors, fmt.Sprintf("In entry %d, %v", i+1, err))
			}
		}
		return out
	}
	for _, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out.Lines++
		in, comment, err := lineEntry(line)
		if err == nil {
			err = out.add(in, comment, widestV4, widestV6)
		}
		if err != nil {
			out.Errors = append(out.Errors, fmt.Sprintf("In line %d (%s), %v", out.Lines, line, err))
		}
	}
	return out
}

func (p *parsedList) add(in common.ACLInput, comment string, widestV4, widestV6 int) error {
	in.UserAny, in.PortAny, in.WidestV4, in.WidestV6 = in.User == "", in.Port == "", widestV4, widestV6
	s, cerr := common.CheckACL(in, true, true)
	if cerr != nil {
		return cerr
	}
	s.Comment = comment
	p.Entries = append(p.Entries, s)
	return nil
}

// resolveNames turns the host names of the list into their IPs, as groupAddServer does; a name
// that does not resolve becomes an error line. With dnsSupportLevel 0 a name refuses the whole
// list (ERR_DNS_DISABLED, exit 132), as The Bastion.
func (p *parsedList) resolveNames(ctx context.Context, c *osh.Call) *osh.Result {
	kept := p.Entries[:0]
	for _, s := range p.Entries {
		name := s.Host.String()
		if r := common.ResolveHost(ctx, c, &s); r != nil {
			if r.Code == "ERR_DNS_DISABLED" {
				return r
			}
			p.Errors = append(p.Errors, fmt.Sprintf("In entry %s, %s", name, r.Message))
			continue
		}
		kept = append(kept, s)
	}
	p.Entries = kept
	return nil
}

// lineEntry splits "[USER@]HOST[:PORT][ COMMENT]".
func lineEntry(line string) (common.ACLInput, string, error) {
	var in common.ACLInput
	target, comment, _ := strings.Cut(line, " ")
	comment = strings.TrimSpace(comment)
	if u, rest, ok := strings.Cut(target, "@"); ok {
		if u == "" {
			return in, "", fmt.Errorf("empty user before '@'")
		}
		in.User, target = u, rest
	}
	switch {
	case strings.HasPrefix(target, "["):
		end := strings.Index(target, "]")
		if end < 0 {
			return in, "", fmt.Errorf("missing ']' after an IPv6 address")
		}
		in.Host, target = target[1:end], target[end+1:]
		if target != "" {
			p, ok := strings.CutPrefix(target, ":")
			if !ok || p == "" {
				return in, "", fmt.Errorf("expected :PORT after ']'")
			}
			in.Port = p
		}
	case strings.Count(target, ":") == 1:
		in.Host, in.Port, _ = strings.Cut(target, ":")
		if in.Port == "" {
			return in, "", fmt.Errorf("empty port after ':'")
		}
	default:
		in.Host = target // a name, an IPv4 address or prefix, or a bare IPv6 address
	}
	return in, comment, nil
}

// jsonEntry reads one {ip, user, port, comment} object.
func jsonEntry(it map[string]any) (common.ACLInput, string, error) {
	var in common.ACLInput
	host, _ := it["ip"].(string)
	if host == "" {
		host, _ = it["host"].(string)
	}
	if host == "" {
		return in, "", fmt.Errorf("missing \"ip\"")
	}
	in.Host = host
	switch u := it["user"].(type) {
	case nil:
	case string:
		if u != "*" {
			in.User = u
		}
	default:
		return in, "", fmt.Errorf("\"user\" must be a string or null")
	}
	switch p := it["port"].(type) {
	case nil:
	case float64:
		if p != math.Trunc(p) || p < math.MinInt32 || p > math.MaxInt32 {
			return in, "", fmt.Errorf("\"port\" must be a whole number")
		}
		in.Port = strconv.Itoa(int(p)) // 0 is refused by the port check, it never means any
	case string:
		if p != "*" {
			in.Port = p
		}
	default:
		return in, "", fmt.Errorf("\"port\" must be a number, \"*\" or null")
	}
	comment := ""
	switch x := it["comment"].(type) {
	case nil:
	case string:
		comment = x
	default:
		return in, "", fmt.Errorf("\"comment\" must be a string")
	}
	return in, comment, nil
}

func setServers(ctx context.Context, c *osh.Call) osh.Result {
	g, r := loadAsAclkeeper(ctx, c, "set its servers")
	if r != nil {
		return *r
	}
	if c.Sess.In == nil {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "Give the new server list on standard input")
	}
	if c.Sess.PTY || c.Sess.Interactive {
		c.P.Line("Type the entries of the new list, one per line: [USER@]HOST[:PORT][ COMMENT]; end with CTRL+D.")
	}
	data, err := common.ReadAllInput(c, maxSetServersBytes) // ends at ^D on a terminal
	if err != nil {
		return osh.Fail("", "ERR_BAD_INPUT", "cannot read the new list: %v", err)
	}
	if len(data) > maxSetServersBytes {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "The new list is larger than %d bytes; nothing was changed", maxSetServersBytes)
	}
	w4, w6 := 0, 0
	if pc, ok := c.Cfg().Plugin[c.Cmd.Name]; ok {
		w4, w6 = pc.WidestV4Prefix, pc.WidestV6Prefix
	}
	p := parseServerList(data, w4, w6)
	if len(p.Entries) > maxSetServersEntries {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "The new list has %d entries, at most %d are allowed; nothing was changed", len(p.Entries), maxSetServersEntries)
	}
	if r := p.resolveNames(ctx, c); r != nil {
		return *r
	}
	for _, e := range p.Errors {
		c.P.Line("%s", e)
	}
	c.P.Line("Parsed %d/%d entries successfully.", len(p.Entries), p.Lines)
	dry := c.Args.Has("dry-run")
	specs := []map[string]any{}
	for _, s := range p.Entries {
		specs = append(specs, s.Value())
	}
	value := map[string]any{"group": g.Name, "parsedLines": p.Lines, "dryrun": dry, "errors": nonNil(p.Errors), "ACL": specs}
	if len(p.Errors) > 0 && !c.Args.Has("skip-errors") {
		return osh.Result{Code: "ERR_INVALID_PARAMETER", Value: value,
			Message: fmt.Sprintf("Aborting because of the %d error(s) above, nothing was changed (use --skip-errors to drop the bad entries)", len(p.Errors))}
	}
	if dry {
		return osh.OK("", value)
	}
	if len(p.Entries) == 0 {
		return osh.Result{Code: "OK_NO_CHANGE", Message: "No entry was given, no change was made (use groupDelServer to empty a list)"}
	}
	old, err := c.Env.Store.ListACL(ctx, store.ACLGroup, g.Name, "")
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot read the current list: %v", err)
	}
	now := c.Now()
	entries := make([]store.ACLEntry, 0, len(p.Entries))
	for _, s := range p.Entries {
		e := s.Entry(store.ACLGroup, g.Name, "", c.Caller().Name, now)
		// An entry that stays keeps who added it and when.
		for _, o := range old {
			if o.Host == e.Host && o.User == e.User && o.Port == e.Port {
				e.AddedBy, e.AddedAt = o.AddedBy, o.AddedAt
			}
		}
		entries = append(entries, e)
	}
	if err := c.Env.Store.ReplaceACL(ctx, store.ACLGroup, g.Name, entries); err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot replace the list, it is unchanged: %v", err)
	}
	list, err := c.Env.Store.ListACL(ctx, store.ACLGroup, g.Name, "")
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "the list was replaced but cannot be read back: %v", err)
	}
	value["ACL"] = common.ACLValue(common.Entries(list), now)
	msg := fmt.Sprintf("The new server list of %s has been set with %d entries and %d errors", g.Name, len(list), len(p.Errors))
	c.P.Line("%s.", msg)
	return osh.Result{Code: "OK", Message: msg, Value: value}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
