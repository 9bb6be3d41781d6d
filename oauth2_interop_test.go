package caddyjwt

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// These tests drive jwt_login with golang.org/x/oauth2, an OAuth2 client
// written by others: what it sends for the password and refresh_token
// grants (RFC 6749 §4.3, §6, with client_id in the body) must be accepted,
// and what jwt_login answers must be read by it as a token or as a
// RetrieveError with the right error code.

// oauth2Site is a running Caddy with two backends of one user, alice: api
// with refresh tokens, at /auth/login, and plain without, at
// /plain/login. /api/* and /plain/api/* are behind jwt_auth.
func oauth2Site(t *testing.T) (base string) {
	t.Helper()
	hash := bcryptHashForTest(t, "wonderland")
	return startCaddy(t, `
	jwt {
		backend api {
			secret `+testSecret+`
			lifetime 15m
			refresh 1h idle 30m
			user alice `+hash+` role=admin
		}
		backend plain {
			secret `+testSecret+`
			user alice `+hash+`
		}
	}`, `
	jwt_login /auth/login api
	jwt_login /plain/login plain
	jwt_auth /api/* api
	jwt_auth /plain/api/* plain
	respond /api/* "hello {http.auth.user.id}"
	respond /plain/api/* "hello {http.auth.user.id}"`)
}

// oauth2Context is a context whose oauth2 requests go through the tests'
// client (a timeout, no redirects followed), and end with the test.
func oauth2Context(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return context.WithValue(ctx, oauth2.HTTPClient, client)
}

// oauth2Config is the public client of the tests: a client_id and no
// secret, sent in the body as a mobile app or a CLI does.
func oauth2Config(tokenURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: "x",
		Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
}

// refreshWith makes the oauth2 library refresh: a token source on an
// expired access token and refresh, asked for a token.
func refreshWith(ctx context.Context, conf *oauth2.Config, refresh string) (*oauth2.Token, error) {
	stale := &oauth2.Token{AccessToken: "expired", TokenType: "bearer", RefreshToken: refresh,
		Expiry: time.Now().Add(-time.Minute)}
	return conf.TokenSource(ctx, stale).Token()
}

// wantRetrieveError checks that err is the library's *oauth2.RetrieveError
// for an answer with the given status and error code.
func wantRetrieveError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T), want an *oauth2.RetrieveError", err, err)
	}
	if re.Response == nil || re.Response.StatusCode != status || re.ErrorCode != code {
		got := 0
		if re.Response != nil {
			got = re.Response.StatusCode
		}
		t.Fatalf("RetrieveError status %d code %q (body %s), want %d %q", got, re.ErrorCode, re.Body, status, code)
	}
}

// wantIssuedPair checks an access token and a refresh token issued
// together: a bearer token of alice whose signature verifies, with a sid;
// a refresh token of 256 random bits in base64url that the answer itself
// carried (the library keeps the presented one when an answer has none).
// It returns the sid.
func wantIssuedPair(t *testing.T, tok *oauth2.Token) (sid string) {
	t.Helper()
	if tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "bearer") || tok.Type() != "Bearer" {
		t.Fatalf("access_token %q token_type %q, want a bearer token", tok.AccessToken, tok.TokenType)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(tok.RefreshToken); err != nil || len(raw) != 32 {
		t.Fatalf("refresh_token %q is not 256 bits in base64url", tok.RefreshToken)
	}
	if sent, _ := tok.Extra("refresh_token").(string); sent != tok.RefreshToken {
		t.Fatalf("the answer's refresh_token is %q; the library reports %q", sent, tok.RefreshToken)
	}
	claims := decodeIssuedToken(t, tok.AccessToken, testSecret).claims
	if claims["sub"] != "alice" || claims["role"] != "admin" {
		t.Errorf("claims %v, want sub alice, role admin", claims)
	}
	sid, _ = claims["sid"].(string)
	if raw, err := base64.RawURLEncoding.DecodeString(sid); err != nil || len(sid) != 22 || len(raw) != 16 {
		t.Fatalf("sid %#v is not a 22-character base64url family id", claims["sid"])
	}
	return sid
}

// wantRefreshExpiresIn checks the answer's refresh_expires_in: a number of
// seconds in (min, max].
func wantRefreshExpiresIn(t *testing.T, tok *oauth2.Token, min, max float64) {
	t.Helper()
	v, ok := tok.Extra("refresh_expires_in").(float64)
	if !ok || v <= min || v > max {
		t.Fatalf("refresh_expires_in %#v, want a number of seconds in (%v, %v]", tok.Extra("refresh_expires_in"), min, max)
	}
}

// wantAPI checks what the api route answers to an access token.
func wantAPI(t *testing.T, url, access string, status int) {
	t.Helper()
	resp, body := sendAuth(t, "GET", url, bearer(access))
	if resp.StatusCode != status {
		t.Fatalf("GET %s with the access token: %d %q, want %d", url, resp.StatusCode, body, status)
	}
	switch status {
	case http.StatusOK:
		if body != "hello alice" {
			t.Fatalf("GET %s: body %q, want hello alice", url, body)
		}
	case http.StatusUnauthorized:
		if h := resp.Header.Get("WWW-Authenticate"); !strings.Contains(h, `error_description="token revoked"`) {
			t.Fatalf("GET %s: WWW-Authenticate %q, want token revoked", url, h)
		}
	}
}

// TestOAuth2ClientPasswordAndRefreshGrants: golang.org/x/oauth2 logs in
// with the password grant, refreshes with rotation through its token
// source, and sees a reused refresh token refused as invalid_grant, which
// ends the family's access tokens too.
func TestOAuth2ClientPasswordAndRefreshGrants(t *testing.T) {
	base := oauth2Site(t)
	ctx := oauth2Context(t)
	conf := oauth2Config(base + "/auth/login")
	const lifetime, refreshLifetime = 15 * time.Minute, time.Hour

	// Password grant.
	before := time.Now()
	tok1, err := conf.PasswordCredentialsToken(ctx, "alice", "wonderland")
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	if tok1.TokenType != "bearer" {
		t.Errorf("token_type %q, want bearer", tok1.TokenType)
	}
	if tok1.Expiry.Before(before.Add(lifetime-2*time.Second)) || tok1.Expiry.After(time.Now().Add(lifetime)) {
		t.Errorf("expiry %s from now, want %s", time.Until(tok1.Expiry).Round(time.Second), lifetime)
	}
	if tok1.ExpiresIn != int64(lifetime/time.Second) {
		t.Errorf("expires_in %d, want %d", tok1.ExpiresIn, int64(lifetime/time.Second))
	}
	sid1 := wantIssuedPair(t, tok1)
	wantRefreshExpiresIn(t, tok1, refreshLifetime.Seconds()-5, refreshLifetime.Seconds())
	wantAPI(t, base+"/api/x", tok1.AccessToken, http.StatusOK)

	// Refresh grant: the token source refreshes an expired token, and the
	// server rotates the refresh token.
	r1 := tok1.RefreshToken
	tok1.Expiry = time.Now().Add(-time.Minute)
	tok2, err := conf.TokenSource(ctx, tok1).Token()
	if err != nil {
		t.Fatalf("refresh grant through the token source: %v", err)
	}
	if tok2.AccessToken == tok1.AccessToken {
		t.Fatal("the refresh gave the same access token again")
	}
	if tok2.RefreshToken == r1 {
		t.Fatal("the refresh token was not rotated: the answer has the one presented")
	}
	if !tok2.Valid() || time.Until(tok2.Expiry) < lifetime-5*time.Second {
		t.Errorf("refreshed token expires in %s, want %s", time.Until(tok2.Expiry).Round(time.Second), lifetime)
	}
	if sid2 := wantIssuedPair(t, tok2); sid2 != sid1 {
		t.Errorf("refreshed access token has sid %q, want the family's %q", sid2, sid1)
	}
	wantRefreshExpiresIn(t, tok2, refreshLifetime.Seconds()-5, refreshLifetime.Seconds())
	wantAPI(t, base+"/api/x", tok2.AccessToken, http.StatusOK)

	// Within the grace, the used refresh token (a second tab) gets the same
	// successor and a fresh access token, and is not a reuse.
	tok3, err := refreshWith(ctx, conf, r1)
	if err != nil {
		t.Fatalf("the used refresh token again within the grace: %v", err)
	}
	if tok3.RefreshToken != tok2.RefreshToken {
		t.Errorf("within the grace the successor is %q, want the first refresh's %q", tok3.RefreshToken, tok2.RefreshToken)
	}
	if tok3.AccessToken == tok2.AccessToken {
		t.Error("within the grace the access token is the one already issued, want a fresh one")
	}
	wantIssuedPair(t, tok3)
	wantAPI(t, base+"/api/x", tok3.AccessToken, http.StatusOK)

	// Past the grace (the refresh clock moved on, not the test's), the
	// used refresh token is a reuse: invalid_grant, and the family ends.
	runningJWTApp(t).Backends["api"].refreshOffset.Add(int64(11 * time.Second))
	_, err = refreshWith(ctx, conf, r1)
	wantRetrieveError(t, err, http.StatusBadRequest, "invalid_grant")
	for _, issued := range []struct{ name, access string }{
		{"login", tok1.AccessToken}, {"refreshed", tok2.AccessToken}, {"grace", tok3.AccessToken},
	} {
		t.Run("the "+issued.name+" access token of the revoked family is refused", func(t *testing.T) {
			wantAPI(t, base+"/api/x", issued.access, http.StatusUnauthorized)
		})
	}
	_, err = refreshWith(ctx, conf, tok2.RefreshToken)
	wantRetrieveError(t, err, http.StatusBadRequest, "invalid_grant")

	// A new login starts a new family, which the old one's end leaves alone.
	tok4, err := conf.PasswordCredentialsToken(ctx, "alice", "wonderland")
	if err != nil {
		t.Fatalf("password grant after the family ended: %v", err)
	}
	if sid4 := wantIssuedPair(t, tok4); sid4 == sid1 {
		t.Errorf("a new login has the ended family's sid %q", sid1)
	}
	wantAPI(t, base+"/api/x", tok4.AccessToken, http.StatusOK)
	if _, err := refreshWith(ctx, conf, tok4.RefreshToken); err != nil {
		t.Fatalf("refreshing the new family: %v", err)
	}
}

// TestOAuth2ClientUnsupportedGrants: what jwt_login does not offer, the
// library reports as unsupported_grant_type: the client_credentials grant,
// and the refresh_token grant on a backend without refresh, whose password
// grant answers with no refresh token.
func TestOAuth2ClientUnsupportedGrants(t *testing.T) {
	base := oauth2Site(t)
	ctx := oauth2Context(t)

	for _, path := range []string{"/auth/login", "/plain/login"} {
		t.Run("client_credentials at "+path, func(t *testing.T) {
			cc := &clientcredentials.Config{ClientID: "x", ClientSecret: "s", TokenURL: base + path,
				AuthStyle: oauth2.AuthStyleInParams}
			_, err := cc.Token(ctx)
			wantRetrieveError(t, err, http.StatusBadRequest, "unsupported_grant_type")
		})
	}

	t.Run("refresh_token on a backend without refresh", func(t *testing.T) {
		conf := oauth2Config(base + "/plain/login")
		tok, err := conf.PasswordCredentialsToken(ctx, "alice", "wonderland")
		if err != nil {
			t.Fatalf("password grant: %v", err)
		}
		if tok.RefreshToken != "" || tok.Extra("refresh_token") != nil || tok.Extra("refresh_expires_in") != nil {
			t.Errorf("a backend without refresh answered refresh_token %q, refresh_expires_in %v",
				tok.RefreshToken, tok.Extra("refresh_expires_in"))
		}
		if _, ok := decodeIssuedToken(t, tok.AccessToken, testSecret).claims["sid"]; ok {
			t.Error("an access token outside any family carries sid")
		}
		wantAPI(t, base+"/plain/api/x", tok.AccessToken, http.StatusOK)
		_, err = refreshWith(ctx, conf, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
		wantRetrieveError(t, err, http.StatusBadRequest, "unsupported_grant_type")
	})
}
