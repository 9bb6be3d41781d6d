package caddyjwt

import (
	"context"
	"testing"
	"time"
)

// The cost of one refresh: finding the family, rotating it in the store
// and signing a new access token. The memory store also saves the family
// to Caddy's storage (the file system here); Redis takes a few round trips.

const refreshBenchBackend = `{"secrets":[{"value":"` + testSecret + `"}],"refresh":{"lifetime":3600000000000},` +
	`"users":[{"username":"alice","password":"$2a$04$5dSiJrYvU5dUXFvpJ6tgRO8hLg4Nsnm1Ruz5XgEg5JOa9ZHrQNWKW"}]}`

func BenchmarkRefreshMemoryStore(b *testing.B) {
	benchRefresh(b, provisionedBackend(b, refreshBenchBackend))
}

func BenchmarkRefreshRedisStore(b *testing.B) {
	r := startRedis(b)
	app, err := loadApp(provisionBackends(b, `{"store":{"type":"redis","url":"`+r.url()+`"},"backends":{"api":`+refreshBenchBackend+`}}`))
	if err != nil {
		b.Fatal(err)
	}
	_, backend, _ := app.backend("api")
	for deadline := time.Now().Add(5 * time.Second); !backend.store.up(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the Redis store did not connect")
		}
	}
	benchRefresh(b, backend)
}

// benchRefresh refreshes one login's token chain b.N times.
func benchRefresh(b *testing.B, backend *Backend) {
	ctx := context.Background()
	a := backend.users.current().accounts["alice"]
	iss, err := backend.login(ctx, a)
	if err != nil || iss.refresh == "" {
		b.Fatalf("login: %v (refresh token %q)", err, iss.refresh)
	}
	raw := iss.refresh
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		res, err := backend.exchange(ctx, raw)
		if err != nil || res.outcome != refreshRotated {
			b.Fatalf("refresh: %v, outcome %d", err, res.outcome)
		}
		raw = res.refresh
	}
}
