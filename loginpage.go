package caddyjwt

import (
	_ "embed"
	"html/template"
)

//go:embed loginpage.html
var loginPageHTML string

// defaultLoginPage is the page jwt_login serves on GET and HEAD.
var defaultLoginPage = template.Must(template.New("login").Parse(loginPageHTML))

// loginPageData are the fields a login page template can use.
type loginPageData struct {
	// Action is the URL the form posts to: the login endpoint itself.
	Action string
	// Redirect is where to go after a successful login (a local path).
	Redirect string
	// Error is a message about the previous attempt, if it failed.
	Error string
	// Backend is the name of the backend the page logs in to.
	Backend string
}

// loginPageCSP lets the page use nothing from elsewhere.
const loginPageCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
