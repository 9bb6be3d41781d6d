package caddyjwt

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// deviceLifetime is how long a device cookie lets its client skip the
// untrusted-client limits after its last successful login.
const deviceLifetime = 30 * 24 * time.Hour

// deviceCookies are the device cookies of one backend: every successful
// login sets one, naming the user, and a later login of that user that shows
// it is trusted: it is limited per device rather than per address, and may
// use the hashing time and slots kept for trusted logins (hashbudget.go). A
// flood from many addresses thus cannot keep out someone who signed in from
// that browser or client before. The cookie is an HMAC over the user, a
// random id and an expiry, keyed from the backend's signing key, so it
// survives restarts and is valid on every instance that shares the key;
// it grants nothing but trust at the login, and only for its own user.
type deviceCookies struct {
	name string
	key  []byte
}

// newDeviceCookies derives the MAC key from the backend's signing key: a
// key of its own, so a device cookie can never pass for a token.
func newDeviceCookies(backend string, signKey any) (*deviceCookies, error) {
	material, ok := signKey.([]byte)
	if !ok {
		der, err := x509.MarshalPKCS8PrivateKey(signKey)
		if err != nil {
			return nil, fmt.Errorf("device cookie key: %v", err)
		}
		material = der
	}
	mac := hmac.New(sha256.New, material)
	mac.Write([]byte("caddy-jwt device cookie\x00" + backend))
	return &deviceCookies{name: "jwt_device_" + backend, key: mac.Sum(nil)}, nil
}

// issue is a device cookie for user, sent back only to the login path. id
// is the device's when it showed a valid cookie, which keeps it (and its
// counts) with a new expiry; "" gives a new device.
func (d *deviceCookies) issue(r *http.Request, user, id string, now time.Time) *http.Cookie {
	if id == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		id = base64.RawURLEncoding.EncodeToString(b[:])
	}
	payload := base64.RawURLEncoding.EncodeToString([]byte(user)) + "." + id + "." +
		strconv.FormatInt(now.Add(deviceLifetime).Unix(), 10)
	path := originalURL(r).Path
	if !isLocalPath(path) {
		path = "/"
	}
	return &http.Cookie{
		Name:     d.name,
		Value:    payload + "." + d.sign(payload),
		Path:     path,
		MaxAge:   int(deviceLifetime / time.Second),
		Secure:   r.TLS != nil,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}
}

func (d *deviceCookies) sign(payload string) string {
	mac := hmac.New(sha256.New, d.key)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// find returns the id of the request's valid, unexpired device cookie for
// user. A client may hold several, one per user it signed in as.
func (d *deviceCookies) find(r *http.Request, user string, now time.Time) (id string, ok bool) {
	for _, c := range r.CookiesNamed(d.name) {
		payload, sig, ok := cutLast(c.Value, '.')
		if !ok || !hmac.Equal([]byte(sig), []byte(d.sign(payload))) {
			continue
		}
		parts := strings.Split(payload, ".")
		if len(parts) != 3 {
			continue
		}
		exp, err := strconv.ParseInt(parts[2], 10, 64)
		name, nerr := base64.RawURLEncoding.DecodeString(parts[0])
		if err != nil || nerr != nil || now.Unix() >= exp || string(name) != user {
			continue
		}
		return parts[1], true
	}
	return "", false
}

// present tells whether the request has any device cookie at all.
func (d *deviceCookies) present(r *http.Request) bool {
	return len(r.CookiesNamed(d.name)) > 0
}

// cutLast splits s around its last sep.
func cutLast(s string, sep byte) (before, after string, found bool) {
	i := strings.LastIndexByte(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}
