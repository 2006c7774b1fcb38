package open

import (
	"context"
	"sort"
	"time"

	"gatehouse/internal/osh"
)

// RegisterWebLogin adds webLogin: a URL that opens a web console session for the caller, good
// once and for 60 seconds (internal/console).
func RegisterWebLogin(r *osh.Registry) {
	r.Add(&osh.Command{Name: "webLogin", Category: osh.Open, Summary: "print a one-time URL that logs you in to the web console",
		Run: func(ctx context.Context, c *osh.Call) osh.Result {
			if c.Env.Hooks.WebLogin == nil {
				return osh.Fail("", "ERR_UNAVAILABLE", "The web console is not enabled on this bastion ([web] listen)")
			}
			link, fingerprint, err := c.Env.Hooks.WebLogin(ctx, c.Sess.Account, SessionFactors(c.Sess, c.Now()))
			if err != nil {
				return osh.Fail("", "ERR_UNAVAILABLE", "Cannot make a console login: %v", err)
			}
			// The URL is a credential for 60 s: it must not land in the session's recording, which
			// auditors replay. A lone --osh webLogin, or a batch (whose output may be written after
			// the command), stays unrecorded to its end (the JSON output carries the URL too); in the
			// interactive mode the recording resumes after the human lines, which are written at
			// once, and the machine output leaves the URL out.
			machineURL := link
			if c.Sess.PauseRecording != nil {
				c.Sess.PauseRecording(true)
				if c.Sess.Interactive && !c.Sess.InBatch {
					defer c.Sess.PauseRecording(false)
					machineURL = ""
				}
			}
			c.P.Line("Open this URL within 60 seconds; it works once:")
			c.P.Line("%s", link)
			if fingerprint != "" {
				c.P.Line("The console's certificate SHA-256 fingerprint: %s", fingerprint)
			}
			return osh.OK("", map[string]any{"url": machineURL, "fingerprint": fingerprint, "valid_seconds": 60})
		}})
}

// SessionFactors are the factors the SSH session proved: the public key it authenticated with,
// and the second factors validated in it that still count.
func SessionFactors(s *osh.Session, now time.Time) []string {
	var out []string
	if s.AuthKey != "" {
		out = append(out, "publickey")
	}
	for f, at := range s.MFAProofs {
		if !at.IsZero() && s.MFAValidated(now) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}
