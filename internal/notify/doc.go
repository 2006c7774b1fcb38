// Package notify carries gatehouse's messages to team chat and webhooks, and
// builds the webhook-code second factor and the alert queue on top of them.
//
// Senders. One type per kind of channel (Slack, TeamsWorkflow,
// TeamsConnector, Discord, Mattermost, Ntfy, Generic) turns a Message into
// the exact request that service accepts and POSTs it. Every Send runs under
// a deadline (Endpoint.Timeout, default 10 s, and whatever deadline the
// caller's context carries); a 429 or 503 with Retry-After is retried only
// when the wait fits inside that deadline; responses are read up to 64 KiB;
// a 2xx whose body reports an error (Slack "invalid_payload", Teams connector
// anything but "1", Discord/Mattermost/ntfy error JSON) is a failure.
// Redirects are not followed. Errors name the channel, never its URL (the URL
// is the webhook's credential), and never contain the code.
//
// Values that come from users (account, target, command, source) are
// sanitized (control and bidi characters replaced, length capped) and escaped
// for each format (Slack mrkdwn &<>, Markdown for Discord/Teams, code spans
// for Mattermost, JSON string escaping for the Generic template), and every
// payload is built with encoding/json, never by string replacement.
//
// Code factor. CodeFactor.Start draws an N-digit code (uniform, rejection
// sampled from crypto/rand) and a public session label, delivers the message
// (Deliver: by default every channel must accept, else the factor fails
// closed), and returns a CodeChallenge. The challenge holds the only copy of
// the code; its first Verify consumes it whatever the outcome (one code, one
// try), compares in constant time and refuses after ExpiresAt. A pending
// challenge holds no goroutine and no connection.
//
// Alerts. Alerter queues alerts per channel in bounded buffers served by one
// worker each; Alert never blocks and drops (and counts) when a queue is full.
// Run owns the workers: when its context ends it waits for them, counts what
// was still queued as dropped, and returns with no goroutine left.
//
// The approval factor (a person approves or denies) lives in the approval
// subpackage and uses these senders.
package notify
