package audit

import "strings"

// Masked replaces a secret value in the audit log.
const Masked = "********"

// secretOptionNames are option names (without dashes, lower case) whose
// values are secrets. Names containing one of secretOptionParts are
// secret too, so new options are masked by default.
var (
	secretOptionNames = map[string]bool{
		"code": true, "otp": true, "totp": true, "pin": true, "pass": true,
		"apikey": true, "key-passphrase": true, "scratch": true,
	}
	secretOptionParts = []string{"password", "passwd", "secret", "token", "passphrase", "api-key", "credential"}
)

// IsSecretOption reports whether the value of option name (with or
// without leading dashes, any case) must be masked.
func IsSecretOption(name string) bool {
	n := strings.ToLower(strings.TrimLeft(name, "-"))
	if strings.HasSuffix(n, "-required") {
		// Policy flags such as --mfa-password-required take yes/no.
		return false
	}
	if secretOptionNames[n] {
		return true
	}
	for _, part := range secretOptionParts {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// MaskArgs returns a copy of a command's arguments with the values of
// secret options replaced by Masked, in both the "--password VALUE" and
// "--password=VALUE" forms. After a secret option the next argument is
// masked even if it looks like an option: a secret may start with "--",
// and masking too much is the safe mistake.
func MaskArgs(args []string) []string {
	out := make([]string, len(args))
	maskNext := false
	for i, a := range args {
		switch {
		case maskNext:
			out[i] = Masked
			maskNext = false
		case strings.HasPrefix(a, "-"):
			if name, _, hasValue := strings.Cut(a, "="); hasValue {
				if IsSecretOption(name) {
					out[i] = name + "=" + Masked
				} else {
					out[i] = a
				}
			} else {
				out[i] = a
				maskNext = IsSecretOption(a)
			}
		default:
			out[i] = a
		}
	}
	return out
}

// SessionParams returns the words a session was opened with, as the audit log and the session
// list keep them. Masking is for the bastion's own options (an --osh command's --password …):
// the words of a connection (connection true: [user@]host [options] command …) are kept whole,
// because its remote command runs on the target and the audit must show what ran. Masking a
// word there would hide a command (`true; echo --token "$(payload)"` ran unseen).
func SessionParams(words []string, connection bool) []string {
	if connection {
		return append([]string(nil), words...)
	}
	return MaskArgs(words)
}
