package config

import (
	"slices"
	"testing"
)

// TestRestartNeeded: each option read only at start is named when a reload changes it, and only
// then; options read at each use are never named.
func TestRestartNeeded(t *testing.T) {
	withChannel := func(c *Config) {
		c.Notify.Channels = map[string]NotifyChannel{"ops": {Kind: "ntfy", URL: "https://ntfy.example/x"}}
	}
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		start  func(c *Config)
		want   []string
	}{
		{"nothing", func(c *Config) {}, nil, nil},
		{"listen", func(c *Config) { c.Listen = "0.0.0.0:22" }, nil, []string{"listen"}},
		{"metricsListen", func(c *Config) { c.MetricsListen = "127.0.0.1:9122" }, nil, []string{"metricsListen"}},
		{"approvalListen", func(c *Config) { c.ApprovalListen = "127.0.0.1:8443" }, nil, []string{"approvalListen"}},
		{"syslogAddress", func(c *Config) { c.SyslogAddress = "udp://127.0.0.1:514" }, nil, []string{"syslogAddress"}},
		{"auditCheckpointEvery", func(c *Config) { c.AuditCheckpointEvery = 10 }, nil, []string{"auditCheckpointEvery"}},
		{"gcHeapFloorMiB", func(c *Config) { c.GCHeapFloorMiB = 0 }, nil, []string{"gcHeapFloorMiB"}},
		{"notify channel", withChannel, nil, []string{"notify"}},
		{"notify delivery", func(c *Config) { c.Notify.Delivery = "any" }, nil, []string{"notify"}},
		{"bastionName with channels", func(c *Config) { c.BastionName = "b2" }, withChannel, []string{"bastionName (in chat messages)"}},
		{"bastionName without channels", func(c *Config) { c.BastionName = "b2" }, nil, nil},
		{"two", func(c *Config) { c.SyslogAddress = "udp://127.0.0.1:514"; c.Notify.Fallback = "totp" }, nil, []string{"syslogAddress", "notify"}},
		// Read at each use: applied by the reload, never named.
		{"recordingFormat", func(c *Config) { c.RecordingFormat = "ttyrec" }, nil, nil},
		{"stealth", func(c *Config) { c.TtyrecStealthStdoutPattern = "rsync --server .*" }, nil, nil},
		{"recordingMaxBytes", func(c *Config) { c.RecordingMaxBytes = 1 << 20 }, nil, nil},
		{"maxStartups", func(c *Config) { c.MaxStartups = "5:30:10" }, nil, nil},
		{"ciphers", func(c *Config) { c.Ciphers = []string{"aes256-ctr"} }, nil, nil},
		{"MFA", func(c *Config) { c.AccountMFAPolicy = "totp-required"; c.MFAMode = "jit" }, nil, nil},
		{"plugin", func(c *Config) { c.Plugin = map[string]PluginConfig{"help": {MFARequired: "any"}} }, nil, nil},
		{"gcPercent", func(c *Config) { c.GCPercent = 100 }, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := Default()
			if tc.start != nil {
				tc.start(&start)
			}
			next := start
			next.Notify.Channels = map[string]NotifyChannel{}
			for k, v := range start.Notify.Channels {
				next.Notify.Channels[k] = v
			}
			if len(start.Notify.Channels) == 0 {
				next.Notify.Channels = start.Notify.Channels
			}
			tc.change(&next)
			if got := RestartNeeded(&start, &next); !slices.Equal(got, tc.want) {
				t.Fatalf("RestartNeeded = %q, want %q", got, tc.want)
			}
		})
	}
}
