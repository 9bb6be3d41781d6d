// Token verification: a backend's checks of a compact JWS, the verified-token
// cache in front of them, and the short reasons a refused token is given.

package caddyjwt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// tokenError is a reason a token was refused; its text goes into the
// error_description of a 401, so it never contains the token itself.
type tokenError string

func (e tokenError) Error() string { return string(e) }

// errTokenExpired is the one reason metrics count apart, as "expired".
const errTokenExpired tokenError = "token expired"

// Verify checks a compact JWS against this backend and returns who it
// identifies. A token verified before is taken from the cache, and only
// its exp, nbf and iat are checked again (see tokenCache).
func (b *Backend) Verify(raw string) (*identity, error) {
	if len(raw) > maxTokenBytes {
		return nil, tokenError("token too large")
	}
	// The key set is read before verifying, so that a set replaced
	// meanwhile makes the entry stale rather than current.
	var keys *jwkSnapshot
	if b.keys.remote != nil {
		keys = b.keys.remote.current.Load()
	}
	slot := b.cache.slot(raw)
	if id := b.cache.get(slot, raw, keys); id != nil {
		if b.timesHold(&id.times) || b.timeValidator.Validate(&id.times) == nil {
			if b.revs.revoked(id) {
				return nil, errTokenRevoked
			}
			return id, nil
		}
		// Expired or not yet valid by the clock: verify it from scratch,
		// so that the refusal reads exactly as it would without a cache.
		b.cache.remove(slot, raw, id)
	}
	id, err := b.verify(raw)
	if err != nil {
		return nil, err
	}
	b.cache.put(slot, raw, id, keys)
	if b.revs.revoked(id) {
		return nil, errTokenRevoked
	}
	return id, nil
}

// timesHold tells whether a cached token's exp, nbf and iat pass
// timeValidator's checks now, with the same comparisons: exp required and
// now before exp plus the leeway, now not before nbf or iat less the
// leeway. It is the answer of every hit, found without golang-jwt's
// validator, which allocates its list of errors on each call; when it says
// no, the validator decides, so that a refusal reads as without it.
func (b *Backend) timesHold(t *tokenTimes) bool {
	now := b.clock()
	return t.exp != nil && now.Before(t.exp.Add(b.leeway)) &&
		(t.nbf == nil || !now.Before(t.nbf.Add(-b.leeway))) &&
		(t.iat == nil || !now.Before(t.iat.Add(-b.leeway)))
}

// verify checks a token without the cache.
func (b *Backend) verify(raw string) (*identity, error) {
	// Go's base64 decoders skip line breaks, even strict ones, so a
	// signature with one inserted would still verify.
	if strings.IndexByte(raw, '\n') >= 0 || strings.IndexByte(raw, '\r') >= 0 {
		return nil, tokenError("malformed token")
	}
	claims := jwt.MapClaims{}
	tok, err := b.parser.ParseWithClaims(raw, claims, b.keys.keyfunc)
	if err != nil {
		return nil, b.reason(tok, claims, err)
	}
	// The claims check the parser would make, in the same place: after the
	// signature, before anything else. A time claim of the wrong type
	// makes the validator read the claims itself, for the same error.
	id := &identity{backend: b.name, claims: claims, backendValue: b.nameValue}
	if id.times, err = readTimes(claims); err == nil {
		err = b.claimsValidator.Validate(id)
	} else {
		err = b.claimsValidator.Validate(claims)
	}
	if err != nil {
		return nil, b.reason(tok, claims, err)
	}
	// RFC 8725 §3.7: the JSON of a JWS is UTF-8. encoding/json turns invalid
	// bytes into U+FFFD instead of failing, so different signed bytes could
	// read as the same user or claim value; such a token is malformed, as
	// is one whose header or claims repeat a name or trail other bytes
	// (isSingleObject). The segments are decoded once for these checks.
	// The buffer is on the stack, so that the check allocates nothing for
	// the segments of a usual token; it is small, since Go clears it on
	// every call.
	var stack [1 << 10]byte
	header, rest, _ := strings.Cut(raw, ".")
	payload, _, _ := strings.Cut(rest, ".")
	decoded := stack[:]
	if n := base64.RawURLEncoding.DecodedLen(max(len(header), len(payload))); n > len(decoded) {
		decoded = make([]byte, n)
	}
	// Every token a backend signs has the same header: one that passed is
	// remembered by its exact bytes and not decoded again.
	known := b.keys.goodHeader.Load()
	headerKnown := known != nil && *known == header
	for i, segment := range [...]string{header, payload} {
		if i == 0 && headerKnown {
			continue
		}
		n, err := base64.RawURLEncoding.Decode(decoded, []byte(segment))
		if err != nil || !wellFormedJSON(decoded[:n]) {
			return nil, tokenError("malformed token")
		}
	}
	if !headerKnown {
		// A copy, so as not to keep the request's header alive.
		h := strings.Clone(header)
		b.keys.goodHeader.Store(&h)
	}
	if id.userID, id.userIDValue, err = b.userIDOf(claims); err != nil {
		return nil, err
	}
	id.jti, _ = claims["jti"].(string)
	id.sid, _ = claims["sid"].(string)
	id.replacer = id.replace
	return id, nil
}

// userIDOf reads the user claim: the user id and its placeholder value, or
// why the claim does not name a user.
func (b *Backend) userIDOf(claims jwt.MapClaims) (string, any, error) {
	switch v := claims[b.UserClaim].(type) {
	case string:
		if v != "" {
			// A string claim is its own placeholder value, boxed already.
			return v, claims[b.UserClaim], nil
		}
	case json.Number:
		if s := v.String(); s != "" {
			return s, s, nil
		}
	case nil:
	default:
		return "", nil, b.userClaimWrongType
	}
	return "", nil, b.userClaimMissing
}

// wellFormedJSON tells whether js, the header or claims of a token that
// golang-jwt has read, is UTF-8 without lone surrogates and one object
// without repeated names.
func wellFormedJSON(js []byte) bool {
	return utf8.Valid(js) && !hasLoneSurrogate(js) && isSingleObject(js)
}

// hasLoneSurrogate tells whether the JSON text js has a \u escape of a
// UTF-16 surrogate that is not part of a pair. encoding/json decodes such an
// escape to U+FFFD, as it does invalid UTF-8, so `"\ud800"` and `"\udfff"`
// would read as the same string: for RFC 8725 §3.7 they are not UTF-8
// either. The JSON has parsed already, so every `\` in a string starts a
// well-formed escape and every `\u` has four hex digits.
func hasLoneSurrogate(js []byte) bool {
	if !bytes.Contains(js, []byte(`\u`)) {
		return false // the usual token: nothing to scan
	}
	inString := false
	for i := 0; i < len(js); i++ {
		switch c := js[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString:
			i++ // the escaped character
			if i >= len(js) || js[i] != 'u' || i+4 >= len(js) {
				continue
			}
			r := hexRune(js[i+1 : i+5])
			i += 4
			switch {
			case r >= 0xDC00 && r <= 0xDFFF:
				return true // a low surrogate with no high one before it
			case r >= 0xD800 && r <= 0xDBFF:
				// A high surrogate must be followed by a low one.
				if i+6 >= len(js) || js[i+1] != '\\' || js[i+2] != 'u' {
					return true
				}
				if lo := hexRune(js[i+3 : i+7]); lo < 0xDC00 || lo > 0xDFFF {
					return true
				}
				i += 6
			}
		}
	}
	return false
}

// hexRune reads four hex digits; what is not a hex digit counts as 0.
func hexRune(h []byte) rune {
	var r rune
	for _, c := range h {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// reason turns golang-jwt's error into a short, stable description.
func (b *Backend) reason(tok *jwt.Token, claims jwt.MapClaims, err error) tokenError {
	switch {
	case errors.Is(err, errCrit):
		return tokenError(errCrit.Error())
	case errors.Is(err, errUnknownKI):
		return tokenError(errUnknownKI.Error())
	case errors.Is(err, errNoKey):
		return tokenError(errNoKey.Error())
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, errAlgorithm),
		tok != nil && (tok.Method == nil || !b.keys.allows(tok.Method.Alg())):
		return tokenError(errAlgorithm.Error())
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "signature invalid"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// exp is always required, iss and aud when configured.
		if _, ok := claims["exp"]; !ok {
			return "token has no exp"
		}
		if iss, _ := claims.GetIssuer(); b.Issuer != "" && iss == "" {
			return "token has no iss"
		}
		return "token has no aud"
	case errors.Is(err, jwt.ErrTokenExpired):
		return errTokenExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "issuer mismatch"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "audience mismatch"
	default:
		return "invalid token"
	}
}
