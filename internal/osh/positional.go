package osh

import "strings"

// WithPositional rewrites the bare words of a command line into the options they stand for, as
// The Bastion's network plugins guess them (`--osh ping HOST`, `--osh nc HOST PORT`): the n-th
// bare word fills the n-th name of positional, unless that option is given explicitly. A word
// that is an option's value is never taken for a bare word, so `-c 3 HOST` is `-c 3 --host
// HOST`. Words left over (more bare words than names) stay as they are and ParseArgs refuses
// them. The result only ever adds option names in front of words the user typed.
func WithPositional(opts []Option, positional []string, words []string) []string {
	if len(positional) == 0 {
		return words
	}
	kinds := map[string]OptionKind{}
	for _, o := range opts {
		kinds[o.Name] = o.Kind
	}
	given := map[string]bool{}
	for _, w := range words {
		if strings.HasPrefix(w, "-") {
			name, _, _ := strings.Cut(strings.TrimLeft(w, "-"), "=")
			given[name] = true
		}
	}
	var free []string // the positional names not given as options, in order
	for _, p := range positional {
		if !given[p] {
			free = append(free, p)
		}
	}
	out := make([]string, 0, len(words)+len(free))
	for i := 0; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "-") && w != "-" && w != "--" {
			out = append(out, w)
			name, _, hasVal := strings.Cut(strings.TrimLeft(w, "-"), "=")
			kind, known := kinds[name]
			if !known || hasVal || kind == Flag || i+1 >= len(words) {
				continue
			}
			// The option's value, and for Words every following bare word.
			i++
			out = append(out, words[i])
			if kind == Words {
				for i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
					i++
					out = append(out, words[i])
				}
			}
			continue
		}
		if len(free) > 0 {
			out = append(out, "--"+free[0], w)
			free = free[1:]
			continue
		}
		out = append(out, w)
	}
	return out
}
