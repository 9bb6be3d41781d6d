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
	l := b.lookup(raw)
	if l.found {
		return l.id, l.err
	}
	return b.verifyMiss(raw, &l)
}

// tokenLookup is what the cache told of a token: its answer when found,
// and otherwise where a verified token goes.
type tokenLookup struct {
	found bool
	id    *identity
	err   error
	slot  cacheSlot
	keys  *jwkSnapshot
}

// lookup is the first half of Verify: the answer for a token found in the
// cache, which is exactly a token verified before (so never one over
// maxTokenBytes). Any other token, or one the clock no longer lets
// through, is not found, and verifyMiss, the second half, checks it in
// full.
func (b *Backend) lookup(raw string) (l tokenLookup) {
	// The key set is read before verifying, so that a set replaced
	// meanwhile makes the entry stale rather than current.
	if b.keys.remote != nil {
		l.keys = b.keys.remote.current.Load()
	}
	l.slot = b.cache.slot(raw)
	id := b.cache.get(l.slot, raw, l.keys)
	if id == nil {
		return l
	}
	if !b.timesHold(id) && b.timeValidator.Validate(&id.times) != nil {
		// Expired or not yet valid by the clock: verify it from scratch,
		// so that the refusal reads exactly as it would without a cache.
		b.cache.remove(l.slot, raw, id)
		return l
	}
	l.found = true
	b.cache.count(l.slot, true)
	if b.revs.revoked(id) {
		l.err = errTokenRevoked
	} else {
		l.id = id
	}
	return l
}

// verifyMiss is the second half of Verify, for a token lookup did not
// find: it is verified in full and offered to the cache.
func (b *Backend) verifyMiss(raw string, l *tokenLookup) (*identity, error) {
	if len(raw) > maxTokenBytes {
		return nil, tokenError("token too large")
	}
	b.cache.count(l.slot, false)
	id, err := b.verify(raw)
	if err != nil {
		return nil, err
	}
	// The cache keeps the identity's copy of the token, not the request's.
	b.cache.offer(l.slot, id.raw, id, l.keys)
	if b.revs.revoked(id) {
		return nil, errTokenRevoked
	}
	return id, nil
}

// timesHold tells whether a cached token's exp, nbf and iat pass
// timeValidator's checks now, with the same comparisons: exp required and
// now before exp plus the leeway, now not before nbf or iat less the
// leeway (identity.keepTimes). It is the answer of every hit, found
// without golang-jwt's validator, which allocates its list of errors on
// each call; when it says no, the validator decides, so that a refusal
// reads as without it.
func (b *Backend) timesHold(id *identity) bool {
	now := b.clock().UnixNano()
	return id.validFrom <= now && now < id.validUntil
}

// verify checks a token without the cache. A token that carries its
// backend's known header is checked by verifyKnown; any other is read by
// golang-jwt in full, and a good one makes its header the known one.
func (b *Backend) verify(raw string) (*identity, error) {
	// Go's base64 decoders skip line breaks, even strict ones, so a
	// signature with one inserted would still verify.
	if strings.IndexByte(raw, '\n') >= 0 || strings.IndexByte(raw, '\r') >= 0 {
		return nil, tokenError("malformed token")
	}
	if id, err := b.verifyKnown(raw); err != errHeaderUnknown {
		return id, err
	}
	claims := jwt.MapClaims{}
	tok, err := b.parser.ParseWithClaims(raw, claims, b.keys.keyfunc)
	if err != nil {
		return nil, b.reason(tok, claims, err)
	}
	header, rest, _ := strings.Cut(raw, ".")
	payload, _, _ := strings.Cut(rest, ".")
	// Both segments decoded as the parser did; they cannot fail now.
	headerJSON, _ := segmentEncoding.DecodeString(header)
	payloadJSON, _ := segmentEncoding.DecodeString(payload)
	id, err := b.identify(claims, payloadJSON, tokenText(raw, payloadJSON), headerJSON, false)
	if err != nil {
		return nil, err
	}
	b.keys.remember(header, tok)
	return id, nil
}

// segmentEncoding is how the parser decodes a token's segments
// (jwt.WithStrictDecoding): base64url without padding, whose unused bits
// are zero.
var segmentEncoding = base64.RawURLEncoding.Strict()

// identify makes the identity of a token whose signature verified, from
// its claims, its claims set's JSON and the token and JSON in one string
// (tokenText), after the checks of its claims: those of golang-jwt's
// validator, then the JSON's form (of the header too, unless it is nil:
// the known header, checked before), then the user claim. partial tells
// that claims are only those the checks read (checkedClaims), from a
// payload whose form was checked before, so they are not kept.
func (b *Backend) identify(claims jwt.MapClaims, payloadJSON []byte, text string, header []byte, partial bool) (*identity, error) {
	// The claims check the parser would make, in the same place: after the
	// signature, before anything else. A time claim of the wrong type
	// makes the validator read the claims itself, for the same error.
	raw, payload := text[:len(text)-len(payloadJSON)], text[len(text)-len(payloadJSON):]
	id := &identity{backend: b.name, backendValue: b.nameValue, raw: raw, payload: payload, claimsUsed: &b.claimsUsed}
	id.decoded.Store(&claims)
	var err error
	if id.times, err = readTimes(claims); err == nil {
		id.keepTimes(b.leeway)
		err = b.claimsValidator.Validate(id)
	} else {
		err = b.claimsValidator.Validate(claims)
	}
	if err != nil {
		return nil, b.reason(nil, claims, err)
	}
	// RFC 8725 §3.7: the JSON of a JWS is UTF-8. encoding/json turns invalid
	// bytes into U+FFFD instead of failing, so different signed bytes could
	// read as the same user or claim value; such a token is malformed, as
	// is one whose header or claims repeat a name or trail other bytes
	// (isSingleObject).
	if header != nil && !wellFormedJSON(header) || !partial && !wellFormedJSON(payloadJSON) {
		return nil, tokenError("malformed token")
	}
	if id.userID, err = b.userIDOf(claims); err != nil {
		return nil, err
	}
	id.jti, _ = claims["jti"].(string)
	id.sid, _ = claims["sid"].(string)
	// The decoded claims stay with the identity, and in the cache, only
	// once something has asked for them: most configurations never do, and
	// a cache of maps costs the collector far more than one of JSON.
	if partial || !b.claimsUsed.Load() {
		id.decoded.Store(nil)
	}
	return id, nil
}

// tokenText is a token and its claims set's JSON in one string: what a
// cached token keeps, in one allocation. It is not the request's copy of
// the token, which would keep its header alive besides.
func tokenText(raw string, payloadJSON []byte) string {
	return raw + string(payloadJSON)
}

// userIDOf reads the user claim: the user id, or why the claim does not
// name a user.
func (b *Backend) userIDOf(claims jwt.MapClaims) (string, error) {
	switch v := claims[b.UserClaim].(type) {
	case string:
		if v != "" {
			return v, nil
		}
	case json.Number:
		if s := v.String(); s != "" {
			return s, nil
		}
	case nil:
	default:
		return "", b.userClaimWrongType
	}
	return "", b.userClaimMissing
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
