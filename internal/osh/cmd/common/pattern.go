package common

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gatehouse/internal/access"
	"gatehouse/internal/osh"
)

// Patterns are --include and --exclude of accountList and groupListServers, as The Bastion's
// build_re_from_wildcards reads them: * and ? are wildcards, a pattern without either matches
// names that contain it, matching is case-sensitive and whole-field, and --exclude wins over
// --include.
type Patterns struct{ include, exclude *regexp.Regexp }

// Bounds on what a user may give: enough for any real filter, small enough that the regexp
// built from them stays cheap to compile and to run.
const (
	maxPatterns      = 64
	maxPatternLength = 256
)

// ParsePatterns builds the filter; an empty list filters nothing.
func ParsePatterns(includes, excludes []string) (Patterns, error) {
	var p Patterns
	var err error
	if p.include, err = wildcardRE(includes, "--include"); err != nil {
		return Patterns{}, err
	}
	if p.exclude, err = wildcardRE(excludes, "--exclude"); err != nil {
		return Patterns{}, err
	}
	return p, nil
}

func wildcardRE(patterns []string, opt string) (*regexp.Regexp, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	if len(patterns) > maxPatterns {
		return nil, fmt.Errorf("at most %d %s patterns, got %d", maxPatterns, opt, len(patterns))
	}
	alts := make([]string, 0, len(patterns))
	for _, w := range patterns {
		if len(w) > maxPatternLength {
			return nil, fmt.Errorf("%s pattern longer than %d characters", opt, maxPatternLength)
		}
		if !utf8.ValidString(w) {
			return nil, fmt.Errorf("%s pattern is not valid UTF-8", opt)
		}
		if !strings.ContainsAny(w, "*?") {
			w = "*" + w + "*" // a plain word: "contains"
		}
		re := regexp.QuoteMeta(w)
		re = strings.NewReplacer(`\*`, `.*`, `\?`, `.`).Replace(re)
		alts = append(alts, "^"+re+"$")
	}
	// (?s): a field with a newline in it is still one field.
	return regexp.Compile("(?s)" + strings.Join(alts, "|"))
}

// Keep reports whether a row with these fields is listed: no field matches an --exclude, and
// (when any --include is given) at least one field matches one.
func (p Patterns) Keep(fields ...string) bool {
	if p.exclude != nil {
		for _, f := range fields {
			if p.exclude.MatchString(f) {
				return false
			}
		}
	}
	if p.include == nil {
		return true
	}
	for _, f := range fields {
		if p.include.MatchString(f) {
			return true
		}
	}
	return false
}

// Active reports whether any pattern was given.
func (p Patterns) Active() bool { return p.include != nil || p.exclude != nil }

// PatternOptions are the --include and --exclude options.
var PatternOptions = []osh.Option{
	{Name: "include", Kind: osh.Multi, Help: "only list what matches PATTERN (* and ? wildcards; a plain word: contains); may repeat"},
	{Name: "exclude", Kind: osh.Multi, Help: "omit what matches PATTERN; may repeat; --exclude wins over --include"},
}

// PatternsOf reads --include and --exclude; a bad pattern is ERR_INVALID_PARAMETER.
func PatternsOf(c *osh.Call) (Patterns, *osh.Result) {
	p, err := ParsePatterns(c.Args.All("include"), c.Args.All("exclude"))
	if err != nil {
		return p, Failure("ERR_INVALID_PARAMETER", "%v", err)
	}
	return p, nil
}

// ACLCells are the cells of an access's row as The Bastion's print_acls matches --include and
// --exclude against them: IP, PORT ("*" for any), USER ("*" for any), ACCESS-BY, ADDED-BY,
// ADDED-AT (the date), EXPIRY? and COMMENT ("-" when empty).
func ACLCells(e access.Entry, by string) []string {
	port, user := "*", "*"
	if e.Port != 0 {
		port = strconv.Itoa(e.Port)
	}
	if e.User != "" {
		user = e.User
	}
	added, expiry := "-", "-"
	if !e.AddedAt.IsZero() {
		added = e.AddedAt.UTC().Format("2006-01-02")
	}
	if !e.Expiry.IsZero() {
		expiry = e.Expiry.UTC().Format("2006-01-02 15:04:05")
	}
	return []string{e.Host, port, user, by, dash(e.AddedBy), added, expiry, dash(e.Comment)}
}
