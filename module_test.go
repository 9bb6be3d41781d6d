package caddyjwt

import (
	"go/ast"
	"reflect"
	"strings"
	"testing"
)

func TestCheckBackendName(t *testing.T) {
	for _, ok := range []string{"api", "API", "web-2", "partner_v1", "api.example.com", "0"} {
		if err := checkBackendName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "my api", `a"b`, "a,b", "a=b", "a;b", "a\r\nb", "café", "a/b", "{env.X}"} {
		if err := checkBackendName(bad); err == nil {
			t.Errorf("%q accepted; it cannot be written into a realm or cookie name as it is", bad)
		}
	}
}

func TestAppBackendLookup(t *testing.T) {
	b := func(name string) *Backend { return &Backend{name: name} }
	none := &App{}
	one := &App{Backends: map[string]*Backend{"api": b("api")}}
	two := &App{Backends: map[string]*Backend{"web": b("web"), "partner": b("partner")}}
	tests := []struct {
		name    string
		app     *App
		lookup  string
		want    string   // the backend found
		wantErr []string // or the error
	}{
		{"the only backend when none is named", one, "", "api", nil},
		{"a named backend", two, "partner", "partner", nil},
		{"an unknown name lists the defined ones", two, "nope", "", []string{`unknown jwt backend "nope"`, "partner, web"}},
		{"no name while several exist lists them", two, "", "", []string{"name a backend", "2 are defined", "partner, web"}},
		{"no backends at all", none, "", "", []string{"no jwt backends are defined", "global jwt option"}},
		{"a name while no backends exist", none, "api", "", []string{`"api"`, "no jwt backends are defined"}},
		{"a path without its leading slash is told so", two, "auth/login", "", []string{`"auth/login" is not a backend name`, "a path must start with /"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, err := tt.app.backend(tt.lookup)
			if tt.wantErr == nil {
				if err != nil || got.name != tt.want {
					t.Fatalf("got %v, %v; want backend %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("found %q; want an error", got.name)
			}
			wantMentions(t, err, tt.wantErr...)
		})
	}
}

// undocumentedDefaults are JSON fields whose doc comment does not yet say
// their default. New fields must not join this list.
var undocumentedDefaults = map[string]bool{}

// TestEveryJSONFieldDocumentsItsDefault holds the config types to Caddy's
// convention: the docs site (and a reader of `caddy adapt` output) learns
// what a field does and what it is when left out from its doc comment.
func TestEveryJSONFieldDocumentsItsDefault(t *testing.T) {
	fset, files := parseSources(t)
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || !ts.Name.IsExported() {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, field := range st.Fields.List {
				if field.Tag == nil || len(field.Names) == 0 || !field.Names[0].IsExported() {
					continue
				}
				if reflect.StructTag(strings.Trim(field.Tag.Value, "`")).Get("json") == "-" {
					continue
				}
				id := ts.Name.Name + "." + field.Names[0].Name
				doc := field.Doc.Text()
				documented := doc != "" && (strings.Contains(doc, "Default") || strings.Contains(doc, "Required"))
				switch {
				case documented && undocumentedDefaults[id]:
					t.Logf("%s now documents its default; drop it from undocumentedDefaults", id)
				case !documented && !undocumentedDefaults[id]:
					t.Errorf("%s: %s has no doc comment saying its default (\"Default: ...\" or \"Required.\")", fset.Position(field.Pos()), id)
				}
			}
			return true
		})
	}
}
