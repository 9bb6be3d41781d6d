package caddyjwt

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestTimesHoldAgreesWithValidator checks that the hit path's own time
// check (timesHold) lets a cached token through exactly when golang-jwt's
// validator, which it stands in for, would, on either side of every bound
// and with and without a leeway.
func TestTimesHoldAgreesWithValidator(t *testing.T) {
	date := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(cacheEpoch.Add(d)) }
	year := func(y int) *jwt.NumericDate { return jwt.NewNumericDate(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)) }
	tests := []struct {
		name  string
		times tokenTimes
	}{
		{"no exp is refused", tokenTimes{}},
		{"exp ahead holds", tokenTimes{exp: date(time.Minute)}},
		{"exp now is refused", tokenTimes{exp: date(0)}},
		{"exp just past is refused, or held by the leeway", tokenTimes{exp: date(-time.Second)}},
		{"exp long past is refused", tokenTimes{exp: date(-time.Hour)}},
		{"nbf now holds", tokenTimes{exp: date(time.Hour), nbf: date(0)}},
		{"nbf ahead is refused, or held by the leeway", tokenTimes{exp: date(time.Hour), nbf: date(time.Second)}},
		{"nbf far ahead is refused", tokenTimes{exp: date(time.Hour), nbf: date(time.Hour / 2)}},
		{"iat now holds", tokenTimes{exp: date(time.Hour), iat: date(0)}},
		{"iat ahead is refused, or held by the leeway", tokenTimes{exp: date(time.Hour), iat: date(time.Second)}},
		{"iat far ahead is refused", tokenTimes{exp: date(time.Hour), iat: date(time.Hour / 2)}},
		// Past what Unix nanoseconds hold (1678 to 2262).
		{"exp in the year 3000 holds", tokenTimes{exp: year(3000)}},
		{"nbf in the year 3000 is refused", tokenTimes{exp: year(3001), nbf: year(3000)}},
		{"iat in the year 3000 is refused", tokenTimes{exp: year(3001), iat: year(3000)}},
		{"nbf and iat in the year 1000 hold", tokenTimes{exp: date(time.Hour), nbf: year(1000), iat: year(1000)}},
		{"exp in the year 1000 is refused", tokenTimes{exp: year(1000)}},
	}
	for _, leeway := range []string{"", `,"leeway":"30s"`} {
		b, clock := clockedBackend(t, `{"secrets":[{"value":"`+testSecret+`"}]`+leeway+`}`)
		for _, step := range []time.Duration{0, time.Second / 2, 30 * time.Second, 31 * time.Second} {
			clock.nanos.Store(cacheEpoch.Add(step).UnixNano())
			for _, tt := range tests {
				want := b.timeValidator.Validate(&tt.times) == nil
				id := &identity{times: tt.times}
				id.keepTimes(b.leeway)
				if got := b.timesHold(id); got != want {
					t.Errorf("leeway %q, clock +%v, %s: timesHold = %v, validator says %v", leeway, step, tt.name, got, want)
				}
			}
		}
	}
}

// TestKnownHeaderIsCheckedByItsBytes checks that the header remembered from
// a good token (keySet.known) spares only that exact header its
// check: a header that reads the same to golang-jwt but repeats a name, or
// is not UTF-8, is still refused after good tokens, and before them.
func TestKnownHeaderIsCheckedByItsBytes(t *testing.T) {
	exp := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)
	payload := `{"sub":"alice","exp":` + exp + `}`
	good := mintRaw(t, "HS256", []byte(testSecret), `{"alg":"HS256","typ":"JWT"}`, payload)
	bad := []string{
		mintRaw(t, "HS256", []byte(testSecret), `{"alg":"HS256","typ":"JWT","typ":"JWT"}`, payload),
		mintRaw(t, "HS256", []byte(testSecret), `{"alg":"HS256","typ":"JW`+"\xff"+`"}`, payload),
	}
	for _, order := range []string{"good first", "bad first"} {
		b := provisionedBackend(t, hmacBackendJSON)
		if order == "good first" {
			if _, err := b.verify(good); err != nil {
				t.Fatalf("%s: the good token is refused: %v", order, err)
			}
		}
		for i, raw := range bad {
			if _, err := b.verify(raw); err == nil || err.Error() != "malformed token" {
				t.Errorf("%s: bad header %d: got %v, want malformed token", order, i, err)
			}
		}
		if _, err := b.verify(good); err != nil {
			t.Errorf("%s: the good token is refused after the bad ones: %v", order, err)
		}
		if known := b.keys.known.Load(); known == nil || known.segment != strings.Split(good, ".")[0] {
			t.Errorf("%s: the remembered header is %v, want the good token's", order, known)
		}
	}
}
