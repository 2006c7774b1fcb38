package console

import (
	"testing"

	"gatehouse/internal/store"
)

// The transfer a session carried, read from its row as sessionlog and the jump server write it.
func TestTransferOf(t *testing.T) {
	for _, c := range []struct {
		kind, params, want string
	}{
		{"ssh", "root@10.0.0.5 -p 22 -- scp -t /tmp/file", "scp"},
		{"ssh", "root@10.0.0.5 -p 22 -- scp -pf /etc/hosts", "scp"},
		{"ssh", "root@10.0.0.5 -p 22 -- /usr/bin/scp -r -t .", "scp"},
		{"ssh", "root@10.0.0.5 -p 22 -- subsystem sftp", "sftp"},
		{"ssh", "root@[::1] -p 2222 -- rsync --server -vlogDtpre.iLsfxCIvu . /srv/dir/", "rsync"},
		{"ssh", "root@db1 -p 22 -u admin rsync --server --sender -e.iLsfxC . /x", "rsync"},
		{"ssh", "db1 scp -t /tmp", "scp"},
		{"ssh", "root@10.0.0.5 -p 22 -- scp a b", ""},             // a copy run on the target: a command
		{"ssh", "root@10.0.0.5 -p 22 -- ls; scp -t x", ""},        // a shell line: not a transfer
		{"ssh", "root@10.0.0.5 -p 22 -- echo subsystem sftp", ""}, // words, not the subsystem
		{"ssh", "root@10.0.0.5 -p 22 -- rsync -av a b", ""},
		{"ssh", "root@10.0.0.5 -p 22", ""},
		{"ssh", "root@10.0.0.5 -p", ""},
		{"ssh", "", ""},
		{"osh", "scp -t x", ""},
		{"interactive", "root@h -- scp -t x", ""},
	} {
		if got := TransferOf(store.Session{Kind: c.kind, Params: c.params}); got != c.want {
			t.Errorf("TransferOf(%s %q) = %q, want %q", c.kind, c.params, got, c.want)
		}
	}
}

// The filter's rows: every query value against every kind of row.
func TestSessionQueryKeep(t *testing.T) {
	rows := map[string]store.Session{
		"scp":   {Kind: "ssh", Status: "closed", Params: "u@h -p 22 -- scp -t /x"},
		"sftp":  {Kind: "ssh", Status: "open", Params: "u@h -p 22 -- subsystem sftp"},
		"rsync": {Kind: "ssh", Status: "closed", Params: "u@h -p 22 -- rsync --server . /x"},
		"":      {Kind: "ssh", Status: "closed", Params: "u@h -p 22 -- ls"},
	}
	for _, q := range []string{"", "any", "scp", "sftp", "rsync"} {
		for tr, row := range rows {
			for _, st := range []string{"", "open", "closed"} {
				want := (q == "" || (q == "any" && tr != "") || q == tr) && (st == "" || st == row.Status)
				if got := (SessionQuery{Transfer: q, Status: st}).Keep(row); got != want {
					t.Errorf("transfer=%q status=%q row %q (%s): %v, want %v", q, st, tr, row.Status, got, want)
				}
			}
		}
	}
	plain := Viewer{AccountID: "id-bob"}
	if f, err := (SessionQuery{Transfer: "sftp"}).Filter(plain); err != nil || f.Kind != "ssh" {
		t.Fatalf("transfer filter: %+v %v", f, err)
	}
	if _, err := (SessionQuery{Transfer: "ftp"}).Filter(plain); err == nil {
		t.Fatal("transfer=ftp accepted")
	}
}

func FuzzTransferOf(f *testing.F) {
	for _, s := range []string{"root@h -p 22 -- scp -t /x", "h -- subsystem sftp", "h -p", "-- -- --", "h rsync --server"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, params string) {
		switch TransferOf(store.Session{Kind: "ssh", Params: params}) {
		case "", "scp", "sftp", "rsync":
		default:
			t.Fatal("unknown transfer")
		}
	})
}
