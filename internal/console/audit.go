package console

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"

	"gatehouse/internal/audit"
)

// AuditQuery filters the audit page.
type AuditQuery struct {
	Type, Account, Session string
}

// AuditRow is one audit line as the page shows it.
type AuditRow struct {
	Seq     uint64
	Time    string
	Type    string
	Account string
	Session string
	Fields  string // the other fields, as JSON
}

// Matches reports whether a line's type, account and session id fit the query (type by prefix,
// so "web." finds every console event).
func (q AuditQuery) Matches(typ, account, session string) bool {
	return (q.Type == "" || strings.HasPrefix(typ, q.Type)) &&
		(q.Account == "" || account == q.Account) &&
		(q.Session == "" || session == q.Session)
}

const maxAuditRows = 500

// auditRows reads the log files and keeps the newest matching lines.
func auditRows(files []string, q AuditQuery) ([]AuditRow, error) {
	var rows []AuditRow
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return rows, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			var l struct {
				Seq    uint64         `json:"seq"`
				Time   string         `json:"time"`
				Type   string         `json:"type"`
				Fields map[string]any `json:"fields"`
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue // a cut last line: the verification state says so
			}
			acc, _ := l.Fields["account"].(string)
			sess, _ := l.Fields["uniqid"].(string)
			if extra, ok := l.Fields["extra"].(map[string]any); ok && sess == "" {
				sess, _ = extra["session"].(string) // the console's own events name the session they touched
			}
			if !q.Matches(l.Type, acc, sess) {
				continue
			}
			delete(l.Fields, "account")
			delete(l.Fields, "uniqid")
			rest, _ := json.Marshal(l.Fields)
			rows = append(rows, AuditRow{Seq: l.Seq, Time: l.Time, Type: l.Type, Account: acc, Session: sess, Fields: string(rest)})
			if len(rows) > 4*maxAuditRows { // keep memory bounded on a long log
				rows = append(rows[:0], rows[len(rows)-maxAuditRows:]...)
			}
		}
		_ = f.Close() // read only
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Seq > rows[j].Seq })
	if len(rows) > maxAuditRows {
		rows = rows[:maxAuditRows]
	}
	return rows, nil
}

// AuditSource is where the console finds the audit log and how it verifies it.
type AuditSource struct {
	Dir string
	Pub ed25519.PublicKey
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, q *request) {
	if !CanBrowseAudit(q.Viewer) {
		_ = c.audit(r.Context(), "web.forbidden", audit.Fields{Account: q.Account.Name, Extra: map[string]string{"path": r.URL.Path}}) // refused either way
		c.fail(w, r, http.StatusForbidden, "The audit log is for auditors and admins.")
		return
	}
	v := r.URL.Query()
	aq := AuditQuery{Type: v.Get("type"), Account: v.Get("account"), Session: v.Get("session")}
	data := map[string]any{"Title": "Audit", "Query": aq}
	files, err := audit.Files(c.o.AuditLog.Dir)
	if err != nil || len(files) == 0 {
		data["State"] = "no audit log file found"
		data["Broken"] = true
		c.render(w, r, http.StatusOK, "audit.html", q, data)
		return
	}
	rep, verr := audit.Verify(files, c.o.AuditLog.Pub, audit.VerifyOptions{})
	switch {
	case rep.Problem != nil:
		data["State"], data["Broken"] = "BROKEN: "+rep.Problem.String(), true
	case verr != nil:
		data["State"], data["Broken"] = "cannot verify: "+verr.Error(), true
	default:
		data["State"] = verifiedState(rep)
	}
	data["Rows"], err = auditRows(files, aq)
	if err != nil {
		data["Error"] = "part of the log could not be read"
	}
	c.render(w, r, http.StatusOK, "audit.html", q, data)
}

func verifiedState(rep audit.Report) string {
	var b strings.Builder
	b.WriteString("verified")
	if rep.Lines > 0 {
		b.WriteString(" up to seq ")
		b.WriteString(strconv.FormatUint(rep.LastSeq, 10))
	}
	if rep.Checkpoints > 0 {
		b.WriteString("; last signed checkpoint at seq ")
		b.WriteString(strconv.FormatUint(rep.LastCheckpointSeq, 10))
		b.WriteString(" (key ")
		b.WriteString(rep.KeyID)
		b.WriteString(")")
	}
	if rep.UnsignedTail > 0 {
		b.WriteString("; ")
		b.WriteString(strconv.FormatUint(uint64(rep.UnsignedTail), 10))
		b.WriteString(" line(s) after it not signed yet")
	}
	return b.String()
}
