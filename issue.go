// Issuing tokens: what jwt_login signs for a user whose password held.

package caddyjwt

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issue signs a new token for a user, in the refresh family sid when sid is
// not ""; it returns the token and its iat.
func (b *Backend) Issue(a *account, sid string) (string, int64, error) {
	now := time.Now()
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", 0, err
	}
	claims := make(jwt.MapClaims, len(a.claims)+8)
	for k, v := range a.claims {
		claims[k] = v
	}
	// The user's id, not the login name, is who the token is about.
	claims["sub"] = a.id
	claims[b.UserClaim] = a.id
	// Revoking a user revokes the tokens issued up to that second, so a
	// token issued within it waits for the next one: its iat must be past
	// the revocation, and not in the future, which a leeway of 0 refuses.
	// Another instance's clock may run ahead; its second is waited for a
	// little only, and then written as iat, within the leeway.
	iat := now.Unix()
	if at := b.revs.userRevokedAt(b.name, a.id); at >= iat {
		time.Sleep(min(time.Until(time.Unix(at+1, 0)), 2*time.Second))
		now = time.Now()
		iat = max(now.Unix(), at+1)
	}
	claims["iat"] = iat
	claims["exp"] = now.Add(b.lifetime).Unix()
	claims["jti"] = base64.RawURLEncoding.EncodeToString(jti[:])
	if sid != "" {
		claims["sid"] = sid
	}
	if b.Issuer != "" {
		claims["iss"] = b.Issuer
	}
	switch len(b.Audience) {
	case 0:
	case 1:
		claims["aud"] = b.Audience[0]
	default:
		claims["aud"] = b.Audience
	}
	tok := jwt.NewWithClaims(b.keys.method, claims)
	if b.keys.signKID != "" {
		tok.Header["kid"] = b.keys.signKID
	}
	signed, err := tok.SignedString(b.keys.signKey)
	if err != nil {
		return "", 0, fmt.Errorf("signing token: %v", err)
	}
	return signed, iat, nil
}
