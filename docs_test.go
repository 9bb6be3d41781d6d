package caddyjwt

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestDocsJSONFieldsMatchCode keeps docs/json.md's "Fields and defaults"
// table the same as the doc comments of the config types, so the
// reference cannot drift from the code.
//
// The config types are found, not listed: every type with a CaddyModule
// method (the jwt app and the handlers), and every struct type of this
// package that one of their JSON fields holds, directly or through
// pointers, slices and maps, recursively. Each exported field with a json
// tag other than "-" is a row of the table: type | JSON field | Caddyfile |
// default.
//
// The default is compared as text. In the doc comment (whitespace
// collapsed) it is what follows "Default:" up to the first ";" or the
// first "." that ends a sentence (followed by a space or the end);
// without "Default:", a comment that says "Required" followed by "." or
// ";" has the default "Required". In the table's cell, and in that text,
// backticks are ignored, so the doc may format a value as code.
func TestDocsJSONFieldsMatchCode(t *testing.T) {
	code := configFieldDefaults(t)
	if len(code) < 40 {
		t.Fatalf("found only %d JSON fields in the config types", len(code))
	}

	docs := map[string]string{}
	sec := docSection(t, "docs/json.md", "## Fields and defaults")
	for _, l := range strings.Split(sec, "\n") {
		if !strings.HasPrefix(l, "| `") {
			continue
		}
		cells := tableCells(l)
		if len(cells) != 4 {
			t.Errorf("docs/json.md: a row that is not type | JSON field | Caddyfile | default: %s", l)
			continue
		}
		key := strings.Trim(cells[0], "`") + "." + strings.Trim(cells[1], "`")
		if _, dup := docs[key]; dup {
			t.Errorf("docs/json.md lists %s twice", key)
		}
		docs[key] = defaultText(strings.ReplaceAll(cells[3], `\|`, "|"))
	}

	for key, want := range code {
		got, ok := docs[key]
		switch {
		case !ok:
			t.Errorf("docs/json.md does not list %s (default in the code: %q)", key, want)
		case got != want:
			t.Errorf("docs/json.md gives %s the default %q; its doc comment says %q", key, got, want)
		}
	}
	for key := range docs {
		if _, ok := code[key]; !ok {
			t.Errorf("docs/json.md lists %s, which the code does not have", key)
		}
	}
}

// tableCells splits a Markdown table row into its trimmed cells; an
// escaped \| stays inside its cell.
func tableCells(row string) []string {
	var cells []string
	var cur strings.Builder
	row = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(row), "|"), "|")
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			cur.WriteString(`\|`)
			i++
		case row[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(row[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// parseSources parses the package's non-test Go files, with comments.
func parseSources(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return fset, files
}

// configFieldDefaults returns the default text of every JSON field of the
// config types, keyed Type.json_name.
func configFieldDefaults(t *testing.T) map[string]string {
	t.Helper()
	_, files := parseSources(t)
	structs := map[string]*ast.StructType{}
	var modules []string
	for _, f := range files {
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					if ts, ok := spec.(*ast.TypeSpec); ok {
						if st, ok := ts.Type.(*ast.StructType); ok {
							structs[ts.Name.Name] = st
						}
					}
				}
			case *ast.FuncDecl:
				if d.Name.Name == "CaddyModule" && d.Recv != nil && len(d.Recv.List) == 1 {
					if name := typeName(d.Recv.List[0].Type); name != "" {
						modules = append(modules, name)
					}
				}
			}
		}
	}
	if len(modules) < 4 {
		t.Fatalf("found the modules %v; want the jwt app and three handlers", modules)
	}

	defaults := map[string]string{}
	seen := map[string]bool{}
	queue := modules
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		st, ok := structs[name]
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		for _, field := range st.Fields.List {
			if field.Tag == nil || len(field.Names) == 0 || !field.Names[0].IsExported() {
				continue
			}
			jsonName, _, _ := strings.Cut(reflect.StructTag(strings.Trim(field.Tag.Value, "`")).Get("json"), ",")
			if jsonName == "-" || jsonName == "" {
				continue
			}
			defaults[name+"."+jsonName] = defaultText(commentDefault(field.Doc.Text()))
			if held := typeName(field.Type); held != "" {
				queue = append(queue, held)
			}
		}
	}
	return defaults
}

var (
	defaultSentence  = regexp.MustCompile(`Default:\s*(.*?)(?:;|\.(?:\s|$))`)
	requiredSentence = regexp.MustCompile(`\bRequired[.;]`)
)

// commentDefault is the default a doc comment states, by the rule of
// TestDocsJSONFieldsMatchCode.
func commentDefault(doc string) string {
	doc = strings.Join(strings.Fields(doc), " ")
	if m := defaultSentence.FindStringSubmatch(doc); m != nil {
		return m[1]
	}
	if requiredSentence.MatchString(doc) {
		return "Required"
	}
	return ""
}

// defaultText is a default as compared: without backticks, whitespace
// collapsed.
func defaultText(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "`", "")), " ")
}

// typeName is the name of the package's type that a field type holds
// (through *, [] and map values), or "" for another package's type.
func typeName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.Ident:
			return x.Name
		case *ast.StarExpr:
			e = x.X
		case *ast.ArrayType:
			e = x.Elt
		case *ast.MapType:
			e = x.Value
		default:
			return ""
		}
	}
}
