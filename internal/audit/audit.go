// Package audit keeps gatehouse's tamper-evident audit log: one JSON line
// per event, hash-chained, with ed25519-signed checkpoints, rotated by size,
// optionally copied to syslog in The Bastion's key="value" form.
//
// Format (docs/audit.md has the full description):
//
//	{"seq":1,"prev":"000…0","time":"…","type":"connection.open","fields":{…}}
//	{"seq":2,"prev":"<sha256 hex of line 1's bytes>","time":"…","type":"…",…}
//	{"seq":3,"prev":"…","time":"…","type":"checkpoint","checkpoint":{"every":1000,"key":"…","sig":"…"}}
//
// Invariants:
//
//   - seq counts lines from 1 across all files; prev is the SHA-256 (hex) of
//     the previous line's exact bytes without its newline, 64 zeros for the
//     first line of the chain. Editing, deleting or reordering a line breaks
//     the link to the next one.
//   - A checkpoint signs (seq, prev, time, every, key id) with the bastion's
//     ed25519 key. prev commits to the whole chain before it, so rewriting
//     history after the fact needs the private key. One is written every
//     Options.CheckpointEvery lines, at the end of each rotated file and at
//     Close, so at most CheckpointEvery lines are ever unsigned, and only
//     at the end of the log (a crash leaves them; Verify reports how many).
//   - Files are named audit-<first seq, 20 digits>.jsonl, so name order is
//     chain order. A new file continues the chain of the previous one.
//
// Lifecycle: Open (creates or resumes the log, after checking the chain of
// the last file), Append from any goroutine, Close once. Append errors are
// sticky: after a failed write the chain state is unknown, so every later
// Append fails too and the caller must refuse the audited action (fail
// closed). Verify and VerifyFiles check a log offline.
package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Event types. Others may be used; keep the "area.what" form.
const (
	TypeConnectionOpen  = "connection.open"
	TypeConnectionClose = "connection.close"
	TypeAuth            = "auth"
	TypeMFAPrompt       = "mfa.prompt"
	TypeMFAPass         = "mfa.pass"
	TypeMFAFail         = "mfa.fail"
	TypeOshCommand      = "osh.command"
	TypeAccountChange   = "account.change"
	TypeGroupChange     = "group.change"
	TypeKeyChange       = "key.change"
	TypeGrantChange     = "grant.change"
	TypeHostKeyNew      = "hostkey.new"
	TypeHostKeyMismatch = "hostkey.mismatch"
	TypeHostKeyChange   = "hostkey.change"
	// TypeAuditStart is written by Open: fields.extra says whether the log
	// was resumed and how many unsigned lines it found at its end.
	TypeAuditStart = "audit.start"
	// TypeCheckpoint is reserved for signed checkpoints; Append refuses it.
	TypeCheckpoint = "checkpoint"
)

// Event is one audited fact. Time is set by Append when zero.
type Event struct {
	Time   time.Time
	Type   string
	Fields Fields
}

// Fields carry The Bastion's field names (its syslog and sqlite columns)
// so existing log tooling keeps working. Zero values are left out.
// Secrets never belong here: pass command parameters through MaskArgs.
type Fields struct {
	UniqID          string   `json:"uniqid,omitempty"`
	Account         string   `json:"account,omitempty"`
	CmdType         string   `json:"cmdtype,omitempty"` // ssh, osh, interactive, abort, sshas …
	Allowed         *bool    `json:"allowed,omitempty"`
	IPFrom          string   `json:"ip_from,omitempty"`
	PortFrom        int      `json:"port_from,omitempty"`
	IPBastion       string   `json:"ip_bastion,omitempty"`
	PortBastion     int      `json:"port_bastion,omitempty"`
	User            string   `json:"user,omitempty"`
	IPTo            string   `json:"ip_to,omitempty"`
	PortTo          int      `json:"port_to,omitempty"`
	HostTo          string   `json:"host_to,omitempty"`
	Plugin          string   `json:"plugin,omitempty"`
	Params          []string `json:"params,omitempty"` // masked with MaskArgs
	Factor          string   `json:"factor,omitempty"` // publickey, password, totp, webhook, approval …
	Result          string   `json:"result,omitempty"` // ok, fail, or an error code name
	ExitStatus      *int     `json:"exit_status,omitempty"`
	Signal          string   `json:"signal,omitempty"`
	Duration        float64  `json:"duration,omitempty"` // seconds
	BytesIn         int64    `json:"bytes_in,omitempty"`
	BytesOut        int64    `json:"bytes_out,omitempty"`
	RecordingID     string   `json:"recording_id,omitempty"`
	RecordingSHA256 string   `json:"recording_sha256,omitempty"`
	RecordingSize   int64    `json:"recording_size,omitempty"`
	Comment         string   `json:"comment,omitempty"`
	// Stealth: the session's output was not recorded (ttyrecStealthStdoutPattern matched).
	Stealth bool `json:"stealth,omitempty"`
	// RecordingTruncated: the recording reached recordingMaxBytes and stopped (the session went on).
	RecordingTruncated bool `json:"recording_truncated,omitempty"`
	// Extra holds anything else (hostkey fingerprints, changed options …).
	Extra map[string]string `json:"extra,omitempty"`
}

// Bool returns &b, for Fields.Allowed.
func Bool(b bool) *bool { return &b }

// Int returns &i, for Fields.ExitStatus.
func Int(i int) *int { return &i }

// record is the JSON shape of one line. Field order is the line's order.
type record struct {
	Seq        uint64      `json:"seq"`
	Prev       string      `json:"prev"`
	Time       string      `json:"time"`
	Type       string      `json:"type"`
	Fields     *Fields     `json:"fields,omitempty"`
	Checkpoint *checkpoint `json:"checkpoint,omitempty"`
}

type checkpoint struct {
	Every int    `json:"every"` // checkpoint interval in force
	Key   string `json:"key"`   // KeyID of the signing key
	Sig   string `json:"sig"`   // base64 (std) ed25519 signature
}

// genesis is the prev of the first line of a chain.
var genesis = strings.Repeat("0", 64)

const timeFormat = time.RFC3339Nano

// KeyID names a public key in checkpoints: the first 16 hex characters of
// the SHA-256 of the raw key.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// checkpointMessage is what a checkpoint signs. prev is the hash of the
// line before the checkpoint, which commits to the whole chain so far.
func checkpointMessage(seq uint64, prev, tm string, every int, key string) []byte {
	var b []byte
	b = append(b, "gatehouse-audit-checkpoint-v1\n"...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, '\n')
	b = append(b, prev...)
	b = append(b, '\n')
	b = append(b, tm...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, int64(every), 10)
	b = append(b, '\n')
	b = append(b, key...)
	return b
}

// lineHash is the chain hash of one line (without its newline).
func lineHash(line []byte) string {
	h := sha256.Sum256(line)
	return hex.EncodeToString(h[:])
}
