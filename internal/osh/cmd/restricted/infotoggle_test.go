package restricted

import "testing"

// TestInfoToggle: accountInfo's --with-*/--without-* over every combination of the four options
// that can name a part: the option naming the part wins, "without" wins a tie, then everything,
// then the part's default.
func TestInfoToggle(t *testing.T) {
	opts := []string{"with-groups", "without-groups", "with-everything", "without-everything"}
	for mask := 0; mask < 1<<len(opts); mask++ {
		given := map[string]bool{}
		for i, o := range opts {
			given[o] = mask&(1<<i) != 0
		}
		for _, def := range []bool{false, true} {
			want := def
			switch {
			case given["without-groups"]:
				want = false
			case given["with-groups"]:
				want = true
			case given["without-everything"]:
				want = false
			case given["with-everything"]:
				want = true
			}
			if got := infoToggle(func(n string) bool { return given[n] }, "groups", def); got != want {
				t.Errorf("%v default %v: %v, want %v", given, def, got, want)
			}
		}
	}
	// Spot checks that do not restate the rule.
	has := func(names ...string) func(string) bool {
		return func(n string) bool {
			for _, x := range names {
				if x == n {
					return true
				}
			}
			return false
		}
	}
	if !infoToggle(has("with-everything"), "mfa-password-info", false) {
		t.Error("--with-everything leaves the password information out")
	}
	if infoToggle(has("with-everything", "without-mfa-password-info"), "mfa-password-info", false) {
		t.Error("--without-mfa-password-info does not win over --with-everything")
	}
	if infoToggle(has("without-everything"), "groups", true) {
		t.Error("--without-everything keeps the groups")
	}
	if !infoToggle(has("without-everything", "with-groups"), "groups", true) {
		t.Error("--with-groups does not win over --without-everything")
	}
}
