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
	for _, rev := range benchRevocations(h.backends[0]) {
		h.backends[0].revs.add(rev)
	}
	benchServe(b, h, []string{benchToken(b)}, nil)
}

// benchRevocations are a thousand other tokens and a hundred other users,
// so that the copy is not empty and has changed since start.
func benchRevocations(b *Backend) []revocation {
	until := time.Now().Add(time.Hour).Unix()
	var revs []revocation
	for i := range 1000 {
		revs = append(revs, revocation{Backend: b.name, JTI: "other-" + strconv.Itoa(i), Until: until})
	}
	for i := range 100 {
		revs = append(revs, revocation{Backend: b.name, User: "user-" + strconv.Itoa(i), At: time.Now().Unix(), Until: until})
	}
	return revs
}

func BenchmarkAuthHS256RedisStore(b *testing.B) {
	r := startRedis(b)
	ctx := provisionBackends(b, `{"store":{"type":"redis","url":"`+r.url()+`"},"backends":{"api":`+hs256BenchBackend+`}}`)
	h := new(Auth)
	if err := h.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	s := h.backends[0].store
	for deadline := time.Now().Add(5 * time.Second); !s.up(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the Redis store did not connect")
		}
	}
	for _, rev := range benchRevocations(h.backends[0]) {
		s.revoke(rev) // written to Redis and announced, as a cluster would
	}
	benchServe(b, h, []string{benchToken(b)}, nil)
}

// BenchmarkRevokedCheck is the check a cache hit adds, alone: nothing was
// revoked since the token was last checked.
func BenchmarkRevokedCheck(b *testing.B) {
	rs := newRevocations()
	for _, rev := range benchRevocations(&Backend{name: "api"}) {
		rs.add(rev)
	}
	id := &identity{backend: "api", userID: "alice", jti: "mine"}
	if rs.revoked(id) {
		b.Fatal("revoked")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if rs.revoked(id) {
			b.Fatal("revoked")
		}
	}
}
