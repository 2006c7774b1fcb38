package config

import (
	"testing"
	"time"
)

func TestWebValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		w    Web
		ok   bool
	}{
		{"off", Web{}, true},
		{"https, self-signed", Web{Listen: "0.0.0.0:8444"}, true},
		{"https, given pair", Web{Listen: "0.0.0.0:8444", TLSCert: "c", TLSKey: "k"}, true},
		{"cert without key", Web{Listen: "0.0.0.0:8444", TLSCert: "c"}, false},
		{"plain on loopback", Web{Listen: "127.0.0.1:8080", PlainHTTPLoopback: true}, true},
		{"plain on ::1", Web{Listen: "[::1]:8080", PlainHTTPLoopback: true}, true},
		{"plain on localhost", Web{Listen: "localhost:8080", PlainHTTPLoopback: true}, true},
		{"plain on every address", Web{Listen: "0.0.0.0:8080", PlainHTTPLoopback: true}, false},
		{"plain on a public address", Web{Listen: "192.0.2.1:8080", PlainHTTPLoopback: true}, false},
		{"plain on a host name", Web{Listen: "bastion:8080", PlainHTTPLoopback: true}, false},
		{"plain with a cert", Web{Listen: "127.0.0.1:8080", PlainHTTPLoopback: true, TLSCert: "c", TLSKey: "k"}, false},
		{"bad port", Web{Listen: "127.0.0.1:x"}, false},
		{"ttl 1h", Web{Listen: "127.0.0.1:1", SessionTTL: "1h"}, true},
		{"ttl too short", Web{Listen: "127.0.0.1:1", SessionTTL: "1m"}, false},
		{"ttl too long", Web{Listen: "127.0.0.1:1", SessionTTL: "200h"}, false},
		{"ttl garbage", Web{Listen: "127.0.0.1:1", SessionTTL: "soon"}, false},
	} {
		if err := c.w.validate(); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if (Web{}).SessionLifetime() != 12*time.Hour || (Web{SessionTTL: "1h"}).SessionLifetime() != time.Hour {
		t.Fatal("session lifetime")
	}
}
