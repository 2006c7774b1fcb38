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
//   - A checkpoint signs (seq, prev, time, every, key id; and for the v2
//     kinds, its kind and resume information) with the bastion's ed25519
//     key. prev commits to the whole chain before it, so rewriting history
//     after the fact needs the private key. One is written every
//     Options.CheckpointEvery lines, at the end of each rotated file, as the
//     first line of every run (kind start, committing to the previous end:
//     its seq and hash, whether it was closed, how many lines were unsigned,
//     what incomplete bytes were set aside), when appending resumes after a
//     write failure (kind recover) and at Close (kind shutdown). So at most
//     CheckpointEvery lines are ever unsigned, only at the end of a run; a
//     log whose last line is a shutdown checkpoint is closed.
//   - Each signed checkpoint also goes to the sinks (seq and hash), so the
//     last signed seq lives outside the log too: Verify with Anchors (from
//     ParseSyslogAnchors) detects a log cut back to an earlier point.
//   - Files are named audit-<first seq, 20 digits>.jsonl, so name order is
//     chain order. A new file continues the chain of the previous one.
//
// Lifecycle: Open (creates or resumes the log, after checking the chain of
// the last file and setting aside an incomplete last line), Append from any
// goroutine, Close once. After a failed write the log is failing: every
// Append fails (the caller must refuse the audited action: fail closed)
// until a retry (the next Append, or Retry from RetryEach) sets aside what
// the failed writes left and writes a recover checkpoint. Verify and
// VerifyFiles check a log offline.
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
	// TypeAuditStart is written by Open, after the signed start checkpoint:
	// fields.extra says whether the log was resumed, how many unsigned lines
	// it found at its end and what was set aside.
	TypeAuditStart = "audit.start"
	// TypeCheckpoint is reserved for signed checkpoints; Append refuses it.
	TypeCheckpoint = "checkpoint"
	// TypeAuditCheckpoint is what sinks (syslog) receive for each signed
	// checkpoint: its seq, the hash of its line and its kind, so a copy of the
	// last signed seq lives outside the log (see ParseSyslogAnchors).
	TypeAuditCheckpoint = "audit.checkpoint"
)

// Checkpoint kinds. A regular checkpoint has no kind (and the v1 signature).
const (
	// KindStart begins each run of gatehouse (Open): it commits to the
	// previous end (seq, hash, whether it was closed, how many lines were
	// left unsigned, what incomplete bytes were set aside) and declares the
	// interval in force from there on.
	KindStart = "start"
	// KindRecover is written when appending resumes after a write failure
	// (a full disk): it records what was cut from the file.
	KindRecover = "recover"
	// KindShutdown ends a run (Close). A log whose last line is one is closed.
	KindShutdown = "shutdown"
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
	Every int    `json:"every"`          // checkpoint interval in force
	Key   string `json:"key"`            // KeyID of the signing key
	Kind  string `json:"kind,omitempty"` // "", KindStart, KindRecover, KindShutdown
	// Resume is set on start and recover checkpoints.
	Resume *resumeInfo `json:"resume,omitempty"`
	Sig    string      `json:"sig"` // base64 (std) ed25519 signature
}

// resumeInfo is what a start or recover checkpoint says about the end it
// continues from. The checkpoint's own seq-1 and prev already commit to that
// end; the copy here makes it readable and signs what happened there.
type resumeInfo struct {
	PrevSeq    uint64 `json:"prev_seq"`    // last seq before this line (0: new chain)
	PrevHash   string `json:"prev_hash"`   // hash of that line (genesis for a new chain)
	PrevClosed bool   `json:"prev_closed"` // that line is a shutdown checkpoint
	Unsigned   int    `json:"unsigned"`    // lines after the last checkpoint, signed from here
	Cut        []cut  `json:"cut,omitempty"`
	Reason     string `json:"reason,omitempty"` // recover: the write error that stopped the log
}

// cut describes bytes removed from the end of a log file: an incomplete
// line left by a crash or a failed write.
type cut struct {
	File    string `json:"file"`            // the log file they were cut from (base name)
	Offset  int64  `json:"offset"`          // where they started in it
	Bytes   int64  `json:"bytes"`           // how many
	SHA256  string `json:"sha256"`          // of the bytes
	SavedAs string `json:"saved,omitempty"` // side file holding them, in the log directory
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

// checkpointMessageV2 is what start, recover and shutdown checkpoints sign:
// everything in the line but the signature, each value quoted so that no
// value can pass for another.
func checkpointMessageV2(seq uint64, prev, tm string, c *checkpoint) []byte {
	b := []byte("gatehouse-audit-checkpoint-v2")
	add := func(v string) { b = append(b, '\n'); b = strconv.AppendQuote(b, v) }
	num := func(v int64) { b = append(b, '\n'); b = strconv.AppendInt(b, v, 10) }
	num(int64(seq))
	add(prev)
	add(tm)
	num(int64(c.Every))
	add(c.Key)
	add(c.Kind)
	if r := c.Resume; r != nil {
		num(int64(r.PrevSeq))
		add(r.PrevHash)
		add(strconv.FormatBool(r.PrevClosed))
		num(int64(r.Unsigned))
		add(r.Reason)
		num(int64(len(r.Cut)))
		for _, x := range r.Cut {
			add(x.File)
			num(x.Offset)
			num(x.Bytes)
			add(x.SHA256)
			add(x.SavedAs)
		}
	}
	return b
}

// signedMessage is what the checkpoint in rec signs.
func signedMessage(rec record) []byte {
	c := rec.Checkpoint
	if c.Kind == "" && c.Resume == nil {
		return checkpointMessage(rec.Seq, rec.Prev, rec.Time, c.Every, c.Key)
	}
	return checkpointMessageV2(rec.Seq, rec.Prev, rec.Time, c)
}

// lineHash is the chain hash of one line (without its newline).
func lineHash(line []byte) string {
	h := sha256.Sum256(line)
	return hex.EncodeToString(h[:])
}
