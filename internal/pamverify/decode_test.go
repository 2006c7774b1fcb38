package pamverify

import (
	"strings"
	"testing"
)

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"ticket":"gt1.a.b","code":"123456","service":"sudo","user":"root","ruser":"ubuntu","command":"/bin/true"}`))
	f.Add([]byte(`{"account":"alice","code":"123456"}`))
	f.Add([]byte(`{"code":""}`))
	f.Add([]byte(`{"code":"1"} {"code":"2"}`))
	f.Add([]byte(`{"code":"1","admin":true}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r Request
		if err := decode(body, &r, true); err != nil {
			return
		}
		if r.Code == "" || len(r.Command) > maxCommand || len(r.User) > maxField || len(r.Ticket) > 2048 {
			t.Fatalf("accepted %+v", r)
		}
	})
}

func TestDecodeRefuses(t *testing.T) {
	for _, body := range []string{``, `{}`, `{"code":""}`, `{"code":"1","x":1}`, `{"code":"1"}{}`,
		`{"code":"1","user":"` + strings.Repeat("a", maxField+1) + `"}`} {
		var r Request
		if err := decode([]byte(body), &r, true); err == nil {
			t.Errorf("accepted %q", body)
		}
	}
}
