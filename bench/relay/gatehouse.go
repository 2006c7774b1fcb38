package main

import (
	"gatehouse/bench/internal/benchserver"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// gatehouseConfig is the configuration file of one gatehouse under test: the defaults, with
// room for 1,000 connections being opened and the recording settings of the variant.
func gatehouseConfig(format, stealth string) string {
	var b strings.Builder
	b.WriteString("maxStartups = \"2000:30:3000\"\n")
	b.WriteString("perSourceMaxStartups = 0\n") // every benchmark client is 127.0.0.1
	if format != "" {
		fmt.Fprintf(&b, "recordingFormat = %q\n", format)
	}
	if stealth != "" {
		fmt.Fprintf(&b, "ttyrecStealthStdoutPattern = %q\n", stealth)
	}
	return b.String()
}

func clientConfig(user string, signer ssh.Signer) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:              user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   ssh.InsecureIgnoreHostKey(), // a server this program just started
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Config:            ssh.Config{KeyExchanges: []string{kex}},
		Timeout:           15 * time.Second,
	}
}

// osh runs one `--json-greppable --osh …` command line as user and returns its JSON value, or
// an error unless the answer is OK.
func osh(ctx context.Context, addr, user string, signer ssh.Signer, line string) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := ssh.Dial("tcp", addr, clientConfig(user, signer))
	if err != nil {
		return nil, fmt.Errorf("%s@%s: %w", user, addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	sess, err := c.NewSession()
	if err != nil {
		return nil, err
	}
	var out, errb bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errb
	_ = sess.Run("--json-greppable --osh " + line) // the JSON says whether it worked
	for _, l := range strings.Split(out.String(), "\n") {
		js, ok := strings.CutPrefix(l, "JSON_OUTPUT=")
		if !ok {
			continue
		}
		var v struct {
			ErrorCode    string `json:"error_code"`
			ErrorMessage string `json:"error_message"`
			Value        any    `json:"value"`
		}
		if err := json.Unmarshal([]byte(js), &v); err != nil {
			return nil, fmt.Errorf("--osh %s: JSON_OUTPUT is not JSON: %w", line, err)
		}
		if v.ErrorCode != "OK" {
			return nil, fmt.Errorf("--osh %s: %s: %s", line, v.ErrorCode, v.ErrorMessage)
		}
		return v.Value, nil
	}
	return nil, fmt.Errorf("--osh %s: no JSON_OUTPUT line; stdout %q stderr %q", line, out.String(), errb.String())
}

// setupAlice creates the account alice (key alicePub) with a personal access to root@target and
// appends alice's egress key to the target's authorized_keys.
func setupAlice(ctx context.Context, gh *benchserver.Server, admin, alice ssh.Signer, alicePub string, targetPort int, targetAuthorizedKeys string) error {
	if _, err := osh(ctx, gh.Addr(), "admin", admin, fmt.Sprintf("accountCreate --account alice --public-key %q", strings.TrimSpace(alicePub))); err != nil {
		return fmt.Errorf("%s: %w", gh.Name, err)
	}
	if _, err := osh(ctx, gh.Addr(), "admin", admin,
		"accountAddPersonalAccess --force --account alice --host 127.0.0.1 --user root --port "+strconv.Itoa(targetPort)); err != nil {
		return fmt.Errorf("%s: %w", gh.Name, err)
	}
	v, err := osh(ctx, gh.Addr(), "alice", alice, "selfListEgressKeys")
	if err != nil {
		return fmt.Errorf("%s: %w", gh.Name, err)
	}
	// The value is a list of keys, or (as The Bastion gives it) an object keyed by fingerprint.
	var keys []any
	switch v := v.(type) {
	case []any:
		keys = v
	case map[string]any:
		for _, k := range v {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return fmt.Errorf("%s: selfListEgressKeys gave no key: %v", gh.Name, v)
	}
	first, _ := keys[0].(map[string]any)
	line, _ := first["line"].(string)
	if !strings.Contains(line, "ssh-") {
		return fmt.Errorf("%s: selfListEgressKeys: no key line in %v", gh.Name, first)
	}
	f, err := os.OpenFile(targetAuthorizedKeys, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, strings.TrimSpace(line)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
