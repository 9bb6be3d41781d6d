// The store: the jwt app's state beyond one request (revocations, refresh
// token families, and with Redis the login limits of a cluster), behind one
// small interface.

package caddyjwt

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Store chooses where the jwt app keeps its state.
type Store struct {
	// The kind of store: `memory` keeps the state in this process and
	// saves revocations to Caddy's storage (the `storage` global option),
	// for one instance; `redis` shares it with every Caddy that names the
	// same Redis. Default: memory.
	Type string `json:"type,omitempty"`

	// The Redis URL, for type redis: redis://[user:password@]host:port[/db],
	// or rediss:// for TLS. Placeholders such as {env.REDIS_URL} are
	// resolved. Default: none; required with redis, refused with memory.
	URL string `json:"url,omitempty"`
}

// validate checks the store settings without connecting.
func (s *Store) validate() error {
	if s == nil {
		return nil
	}
	switch s.Type {
	case "", "memory":
		if s.URL != "" {
			return settingError("jwt", "store", "a memory store takes no URL")
		}
	case "redis":
		if s.URL == "" {
			return settingError("jwt", "store", "redis needs a URL: store redis redis://host:6379")
		}
		if !strings.Contains(s.URL, "{") {
			if _, err := parseRedisURL(s.URL); err != nil {
				return settingError("jwt", "store", "%v", err)
			}
		}
	default:
		return settingError("jwt", "store", "unknown store %q; use memory or redis", s.Type)
	}
	return nil
}

// parseRedisURL reads a Redis URL; its error never repeats the URL, which
// may hold a password.
func parseRedisURL(raw string) (*redis.Options, error) {
	if !strings.HasPrefix(raw, "redis://") && !strings.HasPrefix(raw, "rediss://") {
		return nil, fmt.Errorf("the Redis URL must start with redis:// or rediss://")
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		msg := err.Error()
		if strings.Contains(msg, raw) || strings.Contains(raw, "@") {
			msg = "it does not parse"
		}
		return nil, fmt.Errorf("invalid Redis URL: %s", msg)
	}
	return opts, nil
}

// store is what the rest of the code asks of the state: the local copy of
// the revocations, revoking, and shared login counts.
type store interface {
	caddy.Destructor
	// kind is "memory" or "redis", for metrics and logs.
	kind() string
	// revocations is the local copy every token check reads.
	revocations() *revocations
	// revoke records r in the local copy at once, and in the store as
	// soon as it can.
	revoke(r revocation)
	// up tells whether the store is reachable; a memory store always is.
	up() bool
	// counter gives the login counts shared with other instances, or nil
	// when there are none to share.
	counter() sharedCounter
	// families keeps the refresh token families.
	families() familyStore
}

// sharedCounter counts login attempts across every instance sharing a
// store. Its calls wait on the network, so only logins make them.
type sharedCounter interface {
	// attempt counts an attempt under key, unless max are in the window
	// already; then it returns how long until the oldest leaves it. The
	// returned id takes the attempt back with undo.
	attempt(ctx context.Context, key string, max int, window time.Duration, now time.Time) (wait time.Duration, id string, err error)
	undo(ctx context.Context, key, id string)
}

// stores holds each store while a loaded config uses it, so that a reload
// keeps the Redis connections and the local copy of the revocations.
var stores = caddy.NewUsagePool()

// loadStore takes the store the app's settings name from the pool; the
// returned key gives it back with stores.Delete.
func loadStore(ctx caddy.Context, s *Store, logger *zap.Logger) (store, string, error) {
	if s == nil || s.Type == "" || s.Type == "memory" {
		storage := ctx.Storage()
		key := "memory " + fmt.Sprint(storage)
		v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
			return newMemoryStore(storage, logger)
		})
		if err != nil {
			return nil, "", err
		}
		return v.(store), key, nil
	}
	raw, err := caddy.NewReplacer().ReplaceOrErr(s.URL, true, true)
	if err != nil {
		return nil, "", settingError("jwt", "store", "%v", err)
	}
	opts, err := parseRedisURL(raw)
	if err != nil {
		return nil, "", settingError("jwt", "store", "%v", err)
	}
	key := "redis " + raw
	v, _, err := stores.LoadOrNew(key, func() (caddy.Destructor, error) {
		return newRedisStore(opts, logger), nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(store), key, nil
}
