package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"
)

// TestConfigReferenceCurrent: the committed docs/configuration.md is what the flag definitions
// generate, so a flag added or reworded without `make generate` fails here as well as in
// `make check-generate`.
func TestConfigReferenceCurrent(t *testing.T) {
	want, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", referenceFile))
	if err != nil {
		t.Fatalf("%s: %v (run make generate)", referenceFile, err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s is stale: run make generate and commit it.\nline %d is\n\t%s\nwant\n\t%s", referenceFile, i+1, g, w)
		}
	}
}

// TestConfigReferenceListsEverySetting: every visible flag of serve has exactly one row, naming
// each of its environment variables (the *_FILE ones of secrets included).
func TestConfigReferenceListsEverySetting(t *testing.T) {
	doc, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	var serve *cli.Command
	for _, c := range newApp(io.Discard, io.Discard).Commands {
		if c.Name == "serve" {
			serve = c
		}
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(doc), "\n") {
		if name, ok := strings.CutPrefix(line, "| `--"); ok {
			name, _, _ = strings.Cut(name, "`")
			rows[name] = append(rows[name], line)
		}
	}
	n := 0
	for _, f := range visibleFlags(serve.Flags) {
		n++
		name := f.Names()[0]
		if len(rows[name]) != 1 {
			t.Errorf("--%s has %d rows in the reference, want 1", name, len(rows[name]))
			continue
		}
		for _, env := range f.(cli.DocGenerationFlag).GetEnvVars() {
			if !strings.Contains(rows[name][0], "`"+env+"`") {
				t.Errorf("--%s: row lacks %s: %s", name, env, rows[name][0])
			}
		}
	}
	if len(rows) != n {
		t.Errorf("the reference has %d setting rows, serve has %d flags", len(rows), n)
	}
	if !strings.Contains(string(doc), "`LATCHKEY_ADMIN_SECRET_FILE`") {
		t.Errorf("a secret's _FILE variable is missing")
	}
}

// TestConfigReferenceLinks: the sections the reference links to exist, so renaming a heading in
// docs/ cannot leave the generated file pointing nowhere.
func TestConfigReferenceLinks(t *testing.T) {
	doc, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	links := regexp.MustCompile(`\]\(([a-z-]+\.md)(#[a-z0-9-]+)?\)`).FindAllStringSubmatch(string(doc), -1)
	if len(links) == 0 {
		t.Fatal("the reference links to no other document")
	}
	for _, l := range links {
		b, err := os.ReadFile(filepath.Join("..", "..", "docs", l[1]))
		if err != nil {
			t.Errorf("link %s%s: %v", l[1], l[2], err)
			continue
		}
		if l[2] == "" {
			continue
		}
		found := false
		for _, line := range strings.Split(string(b), "\n") {
			if h, ok := strings.CutPrefix(line, "#"); ok && "#"+anchor(strings.TrimLeft(h, "# ")) == l[2] {
				found = true
			}
		}
		if !found {
			t.Errorf("link %s%s: no such heading in docs/%s", l[1], l[2], l[1])
		}
	}
}
