package egresspw

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/seal"
	"gatehouse/internal/store"
)

// MayUse over the kinds of grants a decision can hold and the passwords asked for.
func TestMayUse(t *testing.T) {
	personal := access.Grant{Kind: access.KindPersonal}
	webMember := access.Grant{Kind: access.KindGroupMember, Group: "web"}
	webGuest := access.Grant{Kind: access.KindGroupGuest, Group: "web"}
	dbMember := access.Grant{Kind: access.KindGroupMember, Group: "db"}
	self, web, db := Use{Self: true}, Use{Group: "web"}, Use{Group: "db"}
	for _, tc := range []struct {
		use    Use
		grants []access.Grant
		ok     bool
	}{
		{self, nil, false},
		{web, nil, false},
		{self, []access.Grant{personal}, true},
		{self, []access.Grant{webMember}, true},
		{web, []access.Grant{webMember}, true},
		{web, []access.Grant{webGuest}, true},
		{web, []access.Grant{personal}, false},
		{web, []access.Grant{dbMember}, false},
		{db, []access.Grant{webMember, personal}, false},
		{db, []access.Grant{webMember, dbMember}, true},
		{Use{}, []access.Grant{personal}, false},
		{Use{Self: true, Group: "web"}, []access.Grant{webMember}, false},
		{Use{Group: "WEB"}, []access.Grant{webMember}, false},
	} {
		err := MayUse(tc.use, access.Decision{Grants: tc.grants})
		if (err == nil) != tc.ok {
			t.Errorf("MayUse(%+v, %d grants) = %v, want ok=%v", tc.use, len(tc.grants), err, tc.ok)
		}
	}
}

func TestGenerate(t *testing.T) {
	for _, size := range []int{8, 16, 128} {
		pw, err := Generate(rand.Reader, size)
		if err != nil || len(pw) != size || strings.ContainsAny(pw, "'\" \\$") {
			t.Fatalf("size %d: %q %v", size, pw, err)
		}
	}
	for _, bad := range []int{0, 7, 129} {
		if _, err := Generate(bytes.NewReader(nil), bad); err == nil {
			t.Fatalf("size %d accepted", bad)
		}
	}
	if err := CheckSize(12, 16); err == nil || !strings.Contains(err.Error(), "minimum allowed password size defined by policy is 16") {
		t.Fatalf("policy: %v", err)
	}
}

type memStore struct{ rows []store.EgressPassword }

func (m *memStore) AddEgressPassword(_ context.Context, p store.EgressPassword) (store.EgressPassword, error) {
	m.rows = append([]store.EgressPassword{p}, m.rows...)
	return p, nil
}

func (m *memStore) ListEgressPasswords(context.Context, string, string) ([]store.EgressPassword, error) {
	return m.rows, nil
}

// What is stored is sealed: neither the password nor its hashes appear in it, it opens only under
// the egress password purpose, and the passwords come back current first.
func TestSealedAtRest(t *testing.T) {
	s, err := seal.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st := &memStore{}
	ctx := context.Background()
	first, _, err := New(ctx, st, s, "account", "pia", "pia", 16, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	second, hashes, err := New(ctx, st, s, "account", "pia", "pia", 16, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st.rows {
		if bytes.Contains(r.Sealed, []byte(first)) || bytes.Contains(r.Sealed, []byte(second)) || bytes.Contains(r.Sealed, []byte(hashes["sha512crypt"])) {
			t.Fatal("a password is readable at rest")
		}
		if _, err := s.Open(seal.PurposeEgressKey, r.Sealed); err == nil {
			t.Fatal("a sealed password opens under another purpose")
		}
	}
	pws, err := Passwords(ctx, st, s, "account", "pia")
	if err != nil || len(pws) != 2 || pws[0] != second || pws[1] != first {
		t.Fatalf("passwords: %v %v", pws, err)
	}
	if _, err := Passwords(ctx, &memStore{}, s, "account", "x"); !errors.Is(err, ErrNone) {
		t.Fatalf("none: %v", err)
	}
}

// --force-password: which hash binds the password asked for, and which passwords it keeps.
func TestForcedPassword(t *testing.T) {
	pers := access.Grant{Kind: access.KindPersonal, ForcePassword: "$6$a$personal"}
	web := access.Grant{Kind: access.KindGroupMember, Group: "web", ForcePassword: "$6$a$web"}
	webFree := access.Grant{Kind: access.KindGroupGuest, Group: "web"}
	db := access.Grant{Kind: access.KindGroupMember, Group: "db", ForcePassword: "$6$a$db"}
	for _, tc := range []struct {
		use    Use
		grants []access.Grant
		want   string
	}{
		{Use{Self: true}, []access.Grant{pers, web}, "$6$a$personal"},
		{Use{Self: true}, []access.Grant{web, db}, ""}, // a group's binding never binds the account's own password
		{Use{Group: "web"}, []access.Grant{pers, web}, "$6$a$web"},
		{Use{Group: "web"}, []access.Grant{webFree}, ""},
		{Use{Group: "web"}, []access.Grant{db}, ""},
		{Use{Group: "db"}, []access.Grant{web, db}, "$6$a$db"},
	} {
		if got := Forced(tc.use, access.Decision{Grants: tc.grants}); got != tc.want {
			t.Errorf("Forced(%+v) = %q, want %q", tc.use, got, tc.want)
		}
	}
	a, b := "first-password", "second-password"
	if got, _ := KeepForced([]string{a, b}, ""); len(got) != 2 {
		t.Fatal("no binding keeps all")
	}
	if got, err := KeepForced([]string{a, b}, Hashes(b)["md5crypt"]); err != nil || len(got) != 1 || got[0] != b {
		t.Fatalf("bound to b: %v %v", got, err)
	}
	if _, err := KeepForced([]string{a, b}, "$6$x$nothing"); !errors.Is(err, ErrForcedNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
}
