package audit

import (
	"os"
	"os/user"
	"strconv"
	"strings"
)

// BastionSyslog writes audit events as The Bastion's syslog lines (its lib/perl/OVH/Bastion/
// log.inc and doc/sphinx/administration/logs.rst), so that a SIEM parser written for The Bastion
// reads gatehouse's lines unchanged:
//
//	MSGTYPE uniqid="…" version="…" pid="…" ppid="…" sysuser="…" sudo_user="" uid="…" gid="…" field="value" …
//
// Every line starts with these eight fields, in this order; then come the fields of its type,
// always all of them and in The Bastion's order, empty ("") when gatehouse has no value. Values
// have `\` doubled, `"` escaped and control characters written \xNN (lower-case hex, as its
// sprintf('\\x%02x')).
//
// A connection an admin makes as another account (--ssh-as) has that account in account and
// sysuser and the admin in sudo_user, as The Bastion's sudo'd session.
//
// The message types: open and close (a connection, a --osh command, the interactive mode; the
// access fields), security (admin-ssh-as), account and group (creation, deletion), acl (accesses
// added or removed) and membership (group roles), as The Bastion's. Events The Bastion has no type
// for (MFA, host keys, signed checkpoints …) keep gatehouse's type as their MSGTYPE, after the
// same eight fields, with gatehouse's own fields.
type BastionSyslog struct {
	Version   string // gatehouse's version, in "version"
	PID, PPID int
	SysUser   string // the system user gatehouse runs as; session lines give the account instead
	UID, GID  int
}

// NewBastionSyslog fills the process fields from the running process.
func NewBastionSyslog(version string) BastionSyslog {
	b := BastionSyslog{Version: version, PID: os.Getpid(), PPID: os.Getppid(), UID: os.Geteuid(), GID: os.Getegid()}
	if u, err := user.Current(); err == nil {
		b.SysUser = u.Username
	}
	return b
}

// kv is one field of a line, in order.
type kv struct{ k, v string }

// Lines formats ev as The Bastion's syslog lines: usually one, two for a --osh command (its open
// and close, since gatehouse audits a command once it has run), more when the command changed
// something The Bastion logs on its own (an account, a group, an access, a role).
func (b BastionSyslog) Lines(ev Event) []string {
	f := ev.Fields
	var out []string
	line := func(msgtype string, sysuser string, fields []kv) {
		out = append(out, b.format(msgtype, f.UniqID, sysuser, f.Extra["sudo_user"], fields))
	}
	switch {
	case ev.Type == TypeConnectionOpen:
		line("open", f.Account, b.access(f, "ssh", boolWord(f.Allowed, true)))
	case ev.Type == "connection.denied":
		line("open", f.Account, b.access(f, "ssh", "false"))
	case ev.Type == TypeConnectionClose:
		line("close", f.Account, append(b.access(f, "ssh", boolWord(f.Allowed, true)), b.closing(f)...))
	case (ev.Type == "session.open" || ev.Type == "session.close") && f.CmdType == "interactive":
		fields := b.access(f, "interactive", "true")
		msgtype := "open"
		if ev.Type == "session.close" {
			msgtype, fields = "close", append(fields, b.closing(f)...)
		}
		line(msgtype, f.Account, fields)
	case f.CmdType == "sshas":
		line("open", f.Account, b.access(f, "sshas", boolWord(f.Allowed, false)))
	case ev.Type == TypeSecurity:
		line("security", f.Account, []kv{{"type", f.Extra["type"]}, {"account", f.Account}, {"sudo-as", f.Extra["sudo-as"]},
			{"plugin", f.Plugin}, {"params", strings.Join(f.Params, " ")}})
	case f.CmdType == "osh" && f.Plugin != "" && !strings.HasPrefix(ev.Type, "session."):
		open := b.access(f, "osh", boolWord(f.Allowed, false))
		line("open", f.Account, open)
		line("close", f.Account, append(open, b.closing(f)...))
		if strings.HasPrefix(f.Result, "OK") {
			for _, x := range changeLines(f) {
				line(x.msgtype, f.Account, x.fields)
			}
		}
	default:
		var fields []kv
		for _, p := range fieldPairs(f) {
			if p[0] != "uniqid" && p[0] != "sudo_user" { // both are in the head
				fields = append(fields, kv{p[0], p[1]})
			}
		}
		line(ev.Type, b.SysUser, fields)
	}
	return out
}

// TypeSecurity is The Bastion's security event (an admin impersonating an account: Extra "type"
// admin-ssh-as, "sudo-as" the account impersonated).
const TypeSecurity = "security"

func (b BastionSyslog) format(msgtype, uniqid, sysuser, sudoUser string, fields []kv) string {
	if uniqid == "" {
		uniqid = "-"
	}
	if sysuser == "" {
		sysuser = b.SysUser
	}
	var s strings.Builder
	s.WriteString(msgtype)
	head := []kv{{"uniqid", uniqid}, {"version", b.Version}, {"pid", strconv.Itoa(b.PID)}, {"ppid", strconv.Itoa(b.PPID)},
		{"sysuser", sysuser}, {"sudo_user", sudoUser}, {"uid", strconv.Itoa(b.UID)}, {"gid", strconv.Itoa(b.GID)}}
	for _, x := range append(head, fields...) {
		s.WriteByte(' ')
		s.WriteString(bastionKey(x.k))
		s.WriteString(`="`)
		writeEscaped(&s, x.v, "0123456789abcdef") // as syslogFormatted: lower-case hex
		s.WriteByte('"')
	}
	return s.String()
}

// access are the open line's fields (log_access_insert), in The Bastion's order. host_from and
// host_bastion repeat the IP, as The Bastion does when there is no reverse name; globalsql and
// accountsql are "no" (gatehouse keeps its sessions in its store, not in sqlite files).
func (b BastionSyslog) access(f Fields, cmdtype, allowed string) []kv {
	if f.CmdType != "" && f.CmdType != "osh" {
		cmdtype = f.CmdType
	}
	hostTo := f.HostTo
	if hostTo == "" {
		hostTo = f.IPTo
	}
	params := strings.Join(f.Params, " ")
	return []kv{{"account", f.Account}, {"cmdtype", cmdtype}, {"allowed", allowed},
		{"ip_from", f.IPFrom}, {"port_from", num(f.PortFrom)}, {"host_from", f.IPFrom},
		{"ip_bastion", f.IPBastion}, {"port_bastion", num(f.PortBastion)}, {"host_bastion", f.IPBastion},
		{"user", f.User}, {"ip_to", f.IPTo}, {"port_to", num(f.PortTo)}, {"host_to", hostTo},
		{"plugin", f.Plugin}, {"globalsql", "no"}, {"accountsql", "no"}, {"comment", openComment(f)}, {"params", params},
		{"proxyuser", ""}, {"proxyip", ""}, {"proxyhost", ""}, {"proxyport", ""}}
}

// openComment is the open line's comment: why a connection was refused, else nothing.
func openComment(f Fields) string {
	if f.Allowed != nil && !*f.Allowed {
		return f.Comment
	}
	return ""
}

// closing are the close line's own fields (log_access_update): sysret, signal, comment_close,
// duration (seconds, 3 decimals; -1.000 when unknown, as there) and accountsql_close.
func (b BastionSyslog) closing(f Fields) []kv {
	sysret := ""
	if f.ExitStatus != nil {
		sysret = strconv.Itoa(*f.ExitStatus)
	}
	duration := "-1.000"
	if f.Duration > 0 || f.ExitStatus != nil && f.CmdType != "osh" {
		duration = strconv.FormatFloat(f.Duration, 'f', 3, 64)
	}
	var comments []string
	for _, c := range []string{closeComment(f), f.Result} {
		if c != "" && !strings.HasPrefix(c, "OK") {
			comments = append(comments, c)
		}
	}
	return []kv{{"sysret", sysret}, {"signal", f.Signal}, {"comment_close", strings.Join(comments, " ")},
		{"duration", duration}, {"accountsql_close", "no"}}
}

// closeComment is a close line's hint (The Bastion's space-separated words, e.g. idle_kill).
func closeComment(f Fields) string {
	if f.Allowed != nil && !*f.Allowed {
		return "" // already in the open line's comment
	}
	c := f.Extra["comment_close"]
	if c == "" && !strings.Contains(f.Comment, " ") {
		c = f.Comment
	}
	return c
}

func num(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func boolWord(b *bool, unset bool) string {
	if b == nil {
		return strconv.FormatBool(unset)
	}
	return strconv.FormatBool(*b)
}

// bastionKey keeps keys to The Bastion's characters ([a-z0-9_-]: "sudo-as" is one of its keys).
func bastionKey(k string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, k)
}

type changeLine struct {
	msgtype string
	fields  []kv
}

// argOf is the value of option name in a command's (masked) words: "--name value" or
// "--name=value"; "" when absent.
func argOf(params []string, name string) string {
	for i, w := range params {
		if w == "--"+name && i+1 < len(params) {
			return params[i+1]
		}
		if v, ok := strings.CutPrefix(w, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

func hasArg(params []string, name string) string {
	for _, w := range params {
		if w == "--"+name {
			return "true"
		}
	}
	return "false"
}

// changeLines are The Bastion's account, group, acl and membership lines for a command that
// succeeded, read from its options as the user gave them.
func changeLines(f Fields) []changeLine {
	p := f.Params
	a := func(n string) string { return argOf(p, n) }
	acl := func(action, typ, group, account string) []changeLine {
		return []changeLine{{"acl", []kv{{"action", action}, {"type", typ}, {"group", group}, {"account", account},
			{"user", a("user")}, {"ip", a("host")}, {"port", a("port")}, {"ttl", a("ttl")}, {"force_key", a("force-key")}, {"comment", a("comment")}}}}
	}
	membership := func(action, typ string) []changeLine {
		return []changeLine{{"membership", []kv{{"action", action}, {"type", typ}, {"group", a("group")}, {"account", a("account")},
			{"self", f.Account}, {"user", a("user")}, {"host", a("host")}, {"port", a("port")}, {"ttl", a("ttl")}}}}
	}
	switch cmd := f.Plugin; cmd {
	case "accountCreate":
		return []changeLine{{"account", []kv{{"action", "create"}, {"account", a("account")}, {"account_uid", a("uid")},
			{"public_key", a("public-key")}, {"always_active", hasArg(p, "always-active")}, {"uid_auto", hasArg(p, "uid-auto")},
			{"osh_only", hasArg(p, "osh-only")}, {"immutable_key", hasArg(p, "immutable-key")}, {"comment", a("comment")}}}}
	case "accountDelete":
		return []changeLine{{"account", []kv{{"action", "delete"}, {"account", a("account")}, {"tty_group", ""}}}}
	case "groupCreate":
		return []changeLine{{"group", []kv{{"action", "create"}, {"group", a("group")}, {"owner", a("owner")},
			{"egress_ssh_key_algorithm", a("algo")}, {"egress_ssh_key_size", a("size")}, {"egress_ssh_key_encrypted", hasArg(p, "encrypted")}}}}
	case "groupDelete", "groupDestroy":
		return []changeLine{{"group", []kv{{"action", "delete"}, {"group", a("group")}}}}
	case "groupAddServer":
		return acl("add", "group", a("group"), "")
	case "groupDelServer":
		return acl("del", "group", a("group"), "")
	case "accountAddPersonalAccess":
		return acl("add", "account", "", a("account"))
	case "accountDelPersonalAccess":
		return acl("del", "account", "", a("account"))
	case "selfAddPersonalAccess":
		return acl("add", "account", "", f.Account)
	case "selfDelPersonalAccess":
		return acl("del", "account", "", f.Account)
	}
	for _, role := range []string{"Member", "Owner", "Gatekeeper", "Aclkeeper", "Guest"} {
		switch f.Plugin {
		case "groupAdd" + role, "groupAdd" + role + "Access":
			return membership("add", strings.ToLower(role))
		case "groupDel" + role, "groupDel" + role + "Access":
			return membership("del", strings.ToLower(role))
		}
	}
	return nil
}
