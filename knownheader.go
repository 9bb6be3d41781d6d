// The known header: every token a backend signs has the same header
// segment, so once a token with it has passed every check, the next ones
// that carry its exact bytes are verified without reading it again.

package caddyjwt

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// knownHeader is the header segment of a token that passed every check,
// as golang-jwt read it and as keyfunc answered it.
type knownHeader struct {
	// segment is the header's exact base64url bytes.
	segment string
	// header and method are the token's header and signing method as the
	// parser and keyfunc left them.
	header map[string]any
	method jwt.SigningMethod
	// key is keyfunc's answer for a backend without jwks, whose keys are
	// fixed with the config; nil with jwks, whose key set can change, so
	// keyfunc is asked again for each token.
	key any
}

// errHeaderUnknown tells verify that verifyKnown did not decide.
var errHeaderUnknown = errors.New("header unknown")

// verifyKnown verifies a token whose header segment is the known one, with
// the steps of golang-jwt's ParseWithClaims in their order, less those the
// header's bytes decide: its decoding, its JSON, the algorithm's lookup
// and the allowed algorithms. Each remaining step is made as the parser
// makes it: the claims decoded with segmentEncoding and
// jwt.WithJSONNumber's decoder (or, until a rule or placeholder has asked
// for claims, only those the checks read, as that decoder reads them:
// checkedClaims), the key found by keyfunc, the signature checked by the
// same method with every key of a set. It answers errHeaderUnknown for
// any other token, and for one refused before its signature check, so that
// the parser reads those in full and their refusals read the same.
func (b *Backend) verifyKnown(raw string) (*identity, error) {
	kh := b.keys.known.Load()
	if kh == nil {
		return nil, errHeaderUnknown
	}
	header, rest, ok := strings.Cut(raw, ".")
	if !ok || header != kh.segment {
		return nil, errHeaderUnknown
	}
	payloadSegment, signatureSegment, ok := strings.Cut(rest, ".")
	if !ok || strings.IndexByte(signatureSegment, '.') >= 0 {
		return nil, errHeaderUnknown
	}
	payloadJSON, err := segmentEncoding.DecodeString(payloadSegment)
	if err != nil {
		return nil, errHeaderUnknown
	}
	// The identity keeps the text; claims read from it share its bytes.
	text := tokenText(raw, payloadJSON)
	// Claims that something asks for are decoded whole, to be kept; else
	// only those the checks read.
	partial := !b.claimsUsed.Load()
	var claims jwt.MapClaims
	if partial {
		claims, ok = b.checkedClaims(payloadJSON, text[len(raw):])
	} else {
		claims = jwt.MapClaims{}
		ok = decodeClaims(text[len(raw):], claims) == nil
	}
	if !ok {
		return nil, errHeaderUnknown
	}
	key := kh.key
	if b.keys.remote != nil {
		if key, err = b.keys.keyfunc(&jwt.Token{Header: kh.header, Method: kh.method}); err != nil {
			return nil, errHeaderUnknown
		}
	}
	signature, err := segmentEncoding.DecodeString(signatureSegment)
	if err != nil {
		return nil, errHeaderUnknown
	}
	signed := raw[:len(header)+1+len(payloadSegment)]
	switch keys := key.(type) {
	case jwt.VerificationKeySet:
		if len(keys.Keys) == 0 {
			return nil, errHeaderUnknown
		}
		for _, k := range keys.Keys {
			if err = kh.method.Verify(signed, signature, k); err == nil {
				break
			}
		}
	default:
		err = kh.method.Verify(signed, signature, key)
	}
	if err != nil {
		return nil, tokenError("signature invalid")
	}
	return b.identify(claims, payloadJSON, text, nil, partial)
}

// decodeClaims reads a claims set as the parser does with
// jwt.WithJSONNumber: the first JSON value, numbers as json.Number.
func decodeClaims(payload string, claims jwt.MapClaims) error {
	dec := json.NewDecoder(strings.NewReader(payload))
	dec.UseNumber()
	return dec.Decode(&claims)
}

// checkedNames are the claims that the checks of a token and its identity
// read, besides the backend's user claim: golang-jwt's validator and
// Backend.reason (exp, nbf, iat, iss, aud, sub), identify (jti, sid).
var checkedNames = [...]string{"exp", "nbf", "iat", "iss", "aud", "sub", "jti", "sid"}

// checkedClaims reads, from a claims set that is one well-formed JSON
// object (valid JSON and wellFormedJSON), the claims of checkedNames and
// the user claim, each as decodeClaims reads it; ok is false for any other
// claims set. Checked alone, these claims read exactly as the whole set
// does, and reading them costs a fraction of decoding every claim into a
// map. payload is the claims set, text the same as a string, which the
// strings and numbers read share.
func (b *Backend) checkedClaims(payload []byte, text string) (claims jwt.MapClaims, ok bool) {
	if !json.Valid(payload) || !wellFormedJSON(payload) {
		return nil, false
	}
	// Room for 8 claims, a map's smallest table; the usual token has 4.
	claims, ok = make(jwt.MapClaims, 8), true
	complete := topLevelMembers(payload, func(name []byte, start, end int) {
		key := b.UserClaim
		if string(name) != key {
			i := slices.IndexFunc(checkedNames[:], func(n string) bool { return string(name) == n })
			if i < 0 {
				return
			}
			key = checkedNames[i]
		}
		v, good := readJSONValue(text[start:end])
		ok = ok && good
		claims[key] = v
	})
	return claims, ok && complete
}

// remember makes header the known header, after tok, the token that
// carries it, passed every check.
func (ks *keySet) remember(header string, tok *jwt.Token) {
	if kh := ks.known.Load(); kh != nil && kh.segment == header {
		return
	}
	// A copy, so as not to keep the request's header alive.
	kh := &knownHeader{segment: strings.Clone(header), header: tok.Header, method: tok.Method}
	if ks.remote == nil {
		key, err := ks.keyfunc(&jwt.Token{Header: tok.Header, Method: tok.Method})
		if err != nil {
			return
		}
		kh.key = key
	}
	ks.known.Store(kh)
}
