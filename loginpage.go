package caddyjwt

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
)

//go:embed loginpage.html
var loginPageHTML string

// defaultLoginPage is the page jwt_login serves on GET and HEAD.
var defaultLoginPage = template.Must(template.New("login").Parse(loginPageHTML))

// loginPageData are the fields a login page template can use. docs/jwt_login.md
// documents them for `page <file>`; renaming one breaks users' templates.
type loginPageData struct {
	// Action is the URL the form posts to: the login endpoint itself.
	Action string
	// Redirect is where to go after a successful login (a local path, or
	// a URL on one of jwt_login's redirect_hosts), for
	// a hidden `redirect` field; empty means /.
	Redirect string
	// Error is a message about the previous attempt, if it failed.
	Error string
	// Username is what was typed into the username field of a failed
	// attempt, so the person does not have to type it again.
	Username string
	// Backend is the name of the backend the page logs in to.
	Backend string
}

// loginPageCSP lets the page use nothing from elsewhere: its CSS is inline,
// it has no script, it may only post to its own origin, and no other site
// may frame it (clickjacking).
const loginPageCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"

// loadLoginPage reads and parses a login page template. It also runs the
// template once on sample data, so a template that uses a field that does
// not exist fails when the config is loaded instead of at the first visitor.
func loadLoginPage(file string) (*template.Template, error) {
	text, err := readConfigFile(file, maxLoginPageBytes)
	if err != nil {
		return nil, err
	}
	tpl, err := template.New(filepath.Base(file)).Parse(string(text))
	if err != nil {
		return nil, err
	}
	sample := loginPageData{Action: "/login", Redirect: "/", Error: "sample error", Username: "sample", Backend: "sample"}
	if err := tpl.Execute(io.Discard, sample); err != nil {
		return nil, fmt.Errorf("template does not run: %v", err)
	}
	return tpl, nil
}
