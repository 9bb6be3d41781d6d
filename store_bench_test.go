package caddyjwt

import (
	"strconv"
	"testing"
	"time"
)

// The cost of the revocation check on a cache hit: the same request as
// BenchmarkAuthHS256, without a store at all (the baseline), with the
// default memory store holding revocations of other tokens, and with a
// Redis store. The check reads the local copy only, so a Redis store costs
// what the memory store does.

func BenchmarkAuthHS256NoStore(b *testing.B) {
	h := benchHandler(b, hs256BenchBackend)
	h.backends[0].revs = nil
	benchServe(b, h, []string{benchToken(b)}, nil)
}

func BenchmarkAuthHS256MemoryStore(b *testing.B) {
	h := benchHandler(b, hs256BenchBackend)
	benchRevokeOthers(h.backends[0])
	benchServe(b, h, []string{benchToken(b)}, nil)
}

// benchRevokeOthers revokes a thousand other tokens and a hundred other
// users, so that the copy is not empty and has changed since start.
func benchRevokeOthers(b *Backend) {
	until := time.Now().Add(time.Hour).Unix()
	for i := range 1000 {
		b.revs.add(revocation{Backend: b.name, JTI: "other-" + strconv.Itoa(i), Until: until})
	}
	for i := range 100 {
		b.revs.add(revocation{Backend: b.name, User: "user-" + strconv.Itoa(i), At: time.Now().Unix(), Until: until})
	}
}
