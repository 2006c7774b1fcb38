package config

import "reflect"

// startOnly are the options read once, when gatehouse starts: a reload cannot change them, so it
// names them instead of saying nothing (Tell). The rest is read at each use (a connection, a
// session, a command, an MFA prompt) and takes effect at once.
var startOnly = []struct {
	key  string
	same func(a, b *Config) bool
}{
	{"listen", func(a, b *Config) bool { return a.Listen == b.Listen }},
	{"store", func(a, b *Config) bool { return a.Store == b.Store }},
	{"node", func(a, b *Config) bool { return a.Node == b.Node }},
	{"logFormat", func(a, b *Config) bool { return a.LogFormat == b.LogFormat }},
	{"metricsListen", func(a, b *Config) bool { return a.MetricsListen == b.MetricsListen }},
	{"approvalListen", func(a, b *Config) bool { return a.ApprovalListen == b.ApprovalListen }},
	{"syslogAddress", func(a, b *Config) bool { return a.SyslogAddress == b.SyslogAddress }},
	{"syslogFormat, syslogFacility, syslogDescription", func(a, b *Config) bool {
		return a.SyslogFormat == b.SyslogFormat && a.SyslogFacility == b.SyslogFacility && a.SyslogDescription == b.SyslogDescription
	}},
	{"auditCheckpointEvery", func(a, b *Config) bool { return a.AuditCheckpointEvery == b.AuditCheckpointEvery }},
	{"pam.listen, pam.tls_cert, pam.tls_key", func(a, b *Config) bool {
		return a.PAM.Listen == b.PAM.Listen && a.PAM.TLSCert == b.PAM.TLSCert && a.PAM.TLSKey == b.PAM.TLSKey
	}},
	{"web.listen, web.tls_cert, web.tls_key, web.plain_http_loopback", func(a, b *Config) bool {
		return a.Web.Listen == b.Web.Listen && a.Web.TLSCert == b.Web.TLSCert && a.Web.TLSKey == b.Web.TLSKey && a.Web.PlainHTTPLoopback == b.Web.PlainHTTPLoopback
	}},
	{"notify", func(a, b *Config) bool { return reflect.DeepEqual(a.Notify, b.Notify) }},
	{"archive", func(a, b *Config) bool { return a.Archive == b.Archive }},
	{"gcHeapFloorMiB", func(a, b *Config) bool { return a.GCHeapFloorMiB == b.GCHeapFloorMiB }},
	// The chat messages carry the bastion's name as it was at start.
	{"bastionName (in chat messages)", func(a, b *Config) bool {
		return a.BastionName == b.BastionName || len(b.Notify.Channels) == 0
	}},
}

// RestartNeeded names the options whose value in next differs from the one the running bastion
// was started with (start) and that only a restart applies. A reload applies everything else;
// it reports these so that "configuration reloaded" never hides a change that did not happen.
// Comparing with the start (not the previous reload) keeps naming them until the restart.
func RestartNeeded(start, next *Config) []string {
	var keys []string
	for _, o := range startOnly {
		if !o.same(start, next) {
			keys = append(keys, o.key)
		}
	}
	return keys
}
