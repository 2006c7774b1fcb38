package notifywire

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/notify"
)

// newClient is the HTTP client every channel shares: redirects are not followed (a webhook that
// redirects is misconfigured, and following it would send the code somewhere unreviewed), and a
// few connections per service are kept for the next message.
func newClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// NewSender builds the sender of one configured channel (validated by config).
func NewSender(name string, c config.NotifyChannel, client *http.Client) (notify.Sender, error) {
	ep := notify.Endpoint{Name: name, URL: c.ResolvedURL(), Timeout: config.Duration(c.Timeout, 0), Client: client}
	switch c.Kind {
	case "slack":
		return &notify.Slack{Endpoint: ep}, nil
	case "teams-workflow":
		return &notify.TeamsWorkflow{Endpoint: ep}, nil
	case "teams-connector":
		return &notify.TeamsConnector{Endpoint: ep}, nil
	case "discord":
		return &notify.Discord{Endpoint: ep, Username: c.Username}, nil
	case "mattermost":
		return &notify.Mattermost{Endpoint: ep, Username: c.Username, Channel: c.Channel}, nil
	case "ntfy":
		return &notify.Ntfy{Endpoint: ep, Token: c.ResolvedToken()}, nil
	case "generic":
		var secret []byte
		if s := c.ResolvedSecret(); s != "" {
			secret = []byte(s)
		}
		return notify.NewGeneric(notify.GenericConfig{Endpoint: ep, Template: c.Template, Secret: secret})
	}
	return nil, fmt.Errorf("notify channel %q: unknown kind %q", name, c.Kind)
}

// channelsFor picks the channel names for a request: the union of the channels of those of
// groups that have a [notify.groups.G] entry, in group order; when none has one, defaults.
func channelsFor(n *config.Notify, groups []string, defaults []string) []string {
	var out []string
	found := false
	for _, g := range groups {
		gc, ok := n.Groups[g]
		if !ok {
			continue
		}
		found = true
		for _, c := range gc.Channels {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	if !found {
		return defaults
	}
	return out
}
