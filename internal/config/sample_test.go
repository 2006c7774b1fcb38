package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const samplePath = "../../contrib/gatehouse.toml"

// TestSampleConfigComplete: contrib/gatehouse.toml is read by the real loader, its active values
// are the defaults (so what it says of them is true), its commented-out examples are valid once
// uncommented, and every option of Config appears in it, [notify] and [plugin.NAME] included:
// adding an option without documenting it there fails here.
func TestSampleConfigComplete(t *testing.T) {
	data, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(samplePath)
	if err != nil {
		t.Fatalf("the sample does not load: %v", err)
	}
	c.source, c.pluginLines = "", nil
	d := Default()
	if got, want := fmt.Sprintf("%+v", c), fmt.Sprintf("%+v", d); got != want {
		t.Errorf("the sample's values are not the defaults:\n got %s\nwant %s", got, want)
	}

	// The examples: uncomment "#name" and "#[table]" lines (explanations are "# …").
	example := regexp.MustCompile(`(?m)^#([\[A-Za-z])`).ReplaceAll(data, []byte("$1"))
	example = []byte(strings.Replace(string(example), `approvalListen = ""`, `approvalListen = "127.0.0.1:0"`, 1))
	t.Setenv("GATEHOUSE_OPS_SECRET", "s3cret")
	t.Setenv("GATEHOUSE_SLACK_SIGNING_SECRET", "s3cret")
	t.Setenv("SYNC_AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
	t.Setenv("SYNC_AWS_SECRET_ACCESS_KEY", "example-secret")
	ca := filepath.Join(t.TempDir(), "ca.pem") // ca_file must exist
	os.WriteFile(ca, nil, 0o600)
	example = []byte(strings.Replace(string(example), "/etc/ssl/certs/ca-certificates.crt", ca, 1))
	if _, err := Parse("uncommented-"+samplePath, example); err != nil {
		t.Fatalf("the sample's examples, uncommented, do not load: %v", err)
	}
	var probe Config
	md, err := toml.Decode(string(example), &probe)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range md.Keys() {
		have[normalizeKey(k)] = true
	}
	for _, want := range optionPaths(reflect.TypeOf(Config{}), "") {
		if !have[want] {
			t.Errorf("option %s is not in %s: add it with a comment", want, samplePath)
		}
	}
}

// normalizeKey writes a key as optionPaths does: map keys (channel, group, plugin, route
// names) become "*".
func normalizeKey(k toml.Key) string {
	t := reflect.TypeOf(Config{})
	var parts []string
	for _, p := range k {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice) {
			t = t.Elem()
		}
		switch {
		case t == nil:
			parts = append(parts, p)
		case t.Kind() == reflect.Map:
			parts, t = append(parts, "*"), t.Elem()
		case t.Kind() == reflect.Struct:
			f, ok := fieldByTag(t, p)
			if !ok {
				return strings.Join(append(parts, p), ".")
			}
			parts, t = append(parts, tomlName(f)), f.Type
		default:
			parts, t = append(parts, p), nil
		}
	}
	return strings.Join(parts, ".")
}

// optionPaths lists every option of t as a dotted path, "*" standing for a map key.
func optionPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		path := prefix + tomlName(f)
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, optionPaths(ft, path+".")...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			out = append(out, optionPaths(ft.Elem(), path+".*.")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct: // [[table]]
			out = append(out, optionPaths(ft.Elem(), path+".")...)
		case ft.Kind() == reflect.Map:
			out = append(out, path+".*")
		default:
			out = append(out, path)
		}
	}
	return out
}
