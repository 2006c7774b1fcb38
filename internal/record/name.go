package record

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// NewID returns a new unguessable recording id: 96 random bits as 24
// lowercase hex characters. The same id links the file, the audit log
// (recording_id) and the store.
func NewID() string {
	var b [12]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b[:])
}

// NameParts are what a recording's file name is made of.
type NameParts struct {
	Start   time.Time // session start; written in UTC
	ID      string    // from NewID: 12 to 64 lowercase hex characters
	Account string    // bastion account
	User    string    // remote user ("" for --osh commands)
	Host    string    // target host or IP, or the plugin name for --osh
	Port    int       // target port (0 for --osh commands)
	Format  Format
}

// maxNamePart bounds each user-supplied part so the name stays well
// under the 255-byte limit of common file systems.
const maxNamePart = 48

// FileName builds a recording's file name, in The Bastion's order:
//
//	2026-11-23.10-00-00.<id>.<account>.<user>.<host>.<port>.cast
//
// Parts are sanitised so the result is always one path element: anything
// outside [A-Za-z0-9._@+-] becomes '_', an IPv6 address is written
// v6[a.b.c] as The Bastion does, and long parts are cut. The id is checked,
// not sanitised, because it is what makes the name unguessable.
func FileName(p NameParts) (string, error) {
	if len(p.ID) < 12 || len(p.ID) > 64 || strings.Trim(p.ID, "0123456789abcdef") != "" {
		return "", fmt.Errorf("record: recording id %q is not 12-64 lowercase hex characters; use NewID", p.ID)
	}
	if p.Account == "" {
		return "", fmt.Errorf("record: recording file name needs an account")
	}
	if p.Port < 0 || p.Port > 65535 {
		return "", fmt.Errorf("record: port %d out of range", p.Port)
	}
	host := p.Host
	if strings.Contains(host, ":") {
		host = "v6[" + strings.ReplaceAll(strings.Trim(host, "[]"), ":", ".") + "]"
	}
	var b strings.Builder
	b.WriteString(p.Start.UTC().Format("2006-01-02.15-04-05"))
	for _, part := range []string{p.ID, sanitizePart(p.Account), sanitizePart(p.User), sanitizeHost(host), strconv.Itoa(p.Port)} {
		b.WriteByte('.')
		b.WriteString(part)
	}
	b.WriteByte('.')
	b.WriteString(p.Format.Ext())
	return b.String(), nil
}

func sanitizeHost(h string) string {
	if strings.HasPrefix(h, "v6[") {
		return "v6[" + sanitizePart(strings.TrimSuffix(strings.TrimPrefix(h, "v6["), "]")) + "]"
	}
	return sanitizePart(h)
}

func sanitizePart(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	if len(b) > maxNamePart {
		b = b[:maxNamePart]
	}
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == '@' || c == '+' || c == '-':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}
