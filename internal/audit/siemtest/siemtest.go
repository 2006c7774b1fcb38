// Package siemtest is what a SIEM written for The Bastion does with its syslog lines, written
// from The Bastion's documentation (doc/sphinx/administration/logs.rst) and its log.inc, not
// from gatehouse's code: the tests check gatehouse's lines against it.
package siemtest

import (
	"regexp"
	"strconv"
	"strings"
)

// The regexps a SIEM written for The Bastion applies (doc/sphinx/administration/logs.rst):
// "SYSLOG_TIME SYSLOG_HOST bastion: MSGTYPE field1="value1" …", the eight common fields first,
// then for open and close the access fields in log.inc's order.
var (
	line   = regexp.MustCompile(`^(?P<time>[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}) (?P<host>\S+) bastion: (?P<msgtype>[a-z][a-z0-9.-]*) (?P<fields>.*)$`)
	common = regexp.MustCompile(`^uniqid="(?P<uniqid>[^"]*)" version="(?P<version>[^"]*)" pid="(?P<pid>[0-9]+)" ppid="(?P<ppid>[0-9]+)" sysuser="(?P<sysuser>[^"]*)" sudo_user="(?P<sudo_user>[^"]*)" uid="(?P<uid>[0-9]+)" gid="(?P<gid>[0-9]+)"( |$)`)
	pair   = regexp.MustCompile(`([a-z_][a-z0-9_-]*)="((?:[^"\\]|\\.)*)"`)
	Open   = strictLine("open", "account cmdtype allowed ip_from port_from host_from ip_bastion port_bastion host_bastion user ip_to port_to host_to plugin globalsql accountsql comment params proxyuser proxyip proxyhost proxyport")
	Close  = strictLine("close", "account cmdtype allowed ip_from port_from host_from ip_bastion port_bastion host_bastion user ip_to port_to host_to plugin globalsql accountsql comment params proxyuser proxyip proxyhost proxyport sysret signal comment_close duration accountsql_close")
)

func strictLine(msgtype, keys string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^` + msgtype + ` uniqid="[^"]*" version="[^"]*" pid="[0-9]+" ppid="[0-9]+" sysuser="[^"]*" sudo_user="[^"]*" uid="[0-9]+" gid="[0-9]+"`)
	for _, k := range strings.Fields(keys) {
		b.WriteString(` ` + k + `="(?P<` + k + `>(?:[^"\\]|\\.)*)"`)
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// Parse reads one syslog file line (s) as the SIEM would: msgtype and fields (values unescaped).
func Parse(s string) (msgtype string, fields map[string]string, ok bool) {
	m := line.FindStringSubmatch(s)
	if m == nil || !common.MatchString(m[4]) {
		return "", nil, false
	}
	fields = map[string]string{}
	for _, p := range pair.FindAllStringSubmatch(m[4], -1) {
		fields[p[1]] = unescapeSIEM(p[2])
	}
	return m[3], fields, true
}

// unescapeSIEM undoes syslogFormatted's escapes in one pass: \\, \" and \xNN.
func unescapeSIEM(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' || i+1 >= len(v) {
			b.WriteByte(v[i])
			continue
		}
		i++
		if v[i] == 'x' && i+2 < len(v) {
			n, err := strconv.ParseUint(v[i+1:i+3], 16, 8)
			if err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
