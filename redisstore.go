package caddyjwt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Keys and timings of the Redis store.
const (
	redisPrefix = "caddy-jwt:"
	// redisSyncEvery is how often the whole set of revocations is read
	// again, for what pub/sub may have missed.
	redisSyncEvery = 30 * time.Second
	// redisTimeout bounds each call, so that a Redis that hangs is found
	// lost within a few seconds, and a login waits no longer than this.
	redisTimeout = time.Second
	// redisRetry is how soon a lost Redis is tried again.
	redisRetry = 500 * time.Millisecond
)

// setIfNewer stores a revocation unless the store has one that covers
// more: a user revoked later, or a token kept longer. It is one script so
// that instances writing at once cannot undo each other.
var setIfNewer = redis.NewScript(`
local old = redis.call('GET', KEYS[1])
if old then
	local o = cjson.decode(old)
	if (o['at'] or 0) >= tonumber(ARGV[2]) and (o['until'] or 0) >= tonumber(ARGV[3]) then
		return 0
	end
end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[3])
return 1`)

// countAttempt is the limiter's attempt, shared: in one step it drops what
// left the window and either refuses (returning the milliseconds until the
// oldest counted attempt leaves it) or counts the attempt.
var countAttempt = redis.NewScript(`
local now, window, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= max then
	local oldest = redis.call('ZRANGE', KEYS[1], n - max, n - max, 'WITHSCORES')
	return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 0`)

// redisStore shares the state of every Caddy that names the same Redis.
// Token checks read the local copy only: it is kept current by pub/sub
// and a full read every redisSyncEvery, and what this instance revokes
// while Redis is away is written when it is back.
type redisStore struct {
	client *redis.Client
	addr   string // host:port, for logs: the URL may hold a password
	// channel announces revocations. Pub/sub channels are shared by all
	// databases of a server, so it names the database.
	channel string
	revs    *revocations
	logger  *zap.Logger
	isUp    atomic.Bool
	// unsynced says a revocation could not be written or announced while
	// Redis seemed up; the next turn of follow syncs.
	unsynced atomic.Bool

	cancel context.CancelFunc
	done   chan struct{}
	// syncing keeps two syncs from writing back at once.
	syncing sync.Mutex
}

func newRedisStore(opts *redis.Options, logger *zap.Logger) *redisStore {
	opts.DialTimeout = redisTimeout
	opts.ReadTimeout = redisTimeout
	opts.WriteTimeout = redisTimeout
	opts.MaxRetries = -1 // a lost Redis is retried by run, not by each call
	ctx, cancel := context.WithCancel(context.Background())
	s := &redisStore{
		client:  redis.NewClient(opts),
		addr:    opts.Addr,
		channel: redisPrefix + "revocations:" + strconv.Itoa(opts.DB),
		revs:    newRevocations(),
		logger:  logger.With(zap.String("store", "redis"), zap.String("address", opts.Addr)),
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go s.run(ctx)
	return s
}

func (s *redisStore) kind() string              { return "redis" }
func (s *redisStore) revocations() *revocations { return s.revs }
func (s *redisStore) up() bool                  { return s.isUp.Load() }
func (s *redisStore) counter() sharedCounter    { return s }

// Destruct stops the store once no loaded config uses it.
func (s *redisStore) Destruct() error {
	s.cancel()
	<-s.done
	return s.client.Close()
}

// revoke applies r here at once, then writes and announces it; when Redis
// is away, the next sync writes it.
func (s *redisStore) revoke(r revocation) {
	s.revs.add(r)
	if !s.up() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	if err := s.put(ctx, s.client, r); err != nil {
		// Written back and announced by a sync within about a second.
		s.unsynced.Store(true)
	}
}

// put stores one revocation, expiring with what it protects, and announces
// it to the other instances. On a pipeline, the errors come with Exec.
func (s *redisStore) put(ctx context.Context, c redis.Cmdable, r revocation) error {
	value, _ := json.Marshal(r)
	if err := setIfNewer.Run(ctx, c, []string{revocationRedisKey(r)}, value, r.At, r.Until).Err(); err != nil {
		return err
	}
	return c.Publish(ctx, s.channel, value).Err()
}

// revocationRedisKey is where a revocation lives in Redis. Backend names
// hold no colon, so the prefix of a backend is its own.
func revocationRedisKey(r revocation) string {
	switch {
	case r.JTI != "":
		return redisPrefix + r.Backend + ":revoked:jti:" + r.JTI
	case r.SID != "":
		return redisPrefix + r.Backend + ":revoked:sid:" + r.SID
	}
	return redisPrefix + r.Backend + ":revoked:user:" + r.User
}

// run keeps the subscription and the local copy current, and tells when
// Redis is lost and back, once each.
func (s *redisStore) run(ctx context.Context) {
	defer close(s.done)
	reported := false // whether the first state has been logged
	for ctx.Err() == nil {
		err := s.follow(ctx, func() {
			s.isUp.Store(true)
			s.logger.Info("store reachable")
			reported = true
		})
		if ctx.Err() != nil {
			return
		}
		if s.isUp.Swap(false) || !reported {
			s.logger.Warn("store unreachable; token checks go on from the local copy, logins with limits of this instance",
				zap.Error(err))
			reported = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(redisRetry):
		}
	}
}

// follow subscribes, calls reachable once Redis answers, syncs, then
// applies what other instances announce until the connection fails.
func (s *redisStore) follow(ctx context.Context, reachable func()) error {
	ps := s.client.Subscribe(ctx, s.channel)
	defer ps.Close()
	if _, err := ps.ReceiveTimeout(ctx, redisTimeout); err != nil {
		return err
	}
	if err := s.sync(ctx); err != nil {
		return err
	}
	reachable()
	lastSync, lastHeard := time.Now(), time.Now()
	for {
		msg, err := ps.ReceiveTimeout(ctx, redisTimeout)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var netErr interface{ Timeout() bool }
		switch {
		case err == nil:
			lastHeard = time.Now()
		case errors.As(err, &netErr) && netErr.Timeout():
			// Quiet: ask for a pong, and give up on a Redis that
			// answers nothing for a few seconds.
			if time.Since(lastHeard) > 3*redisTimeout {
				return errors.New("no answer from Redis")
			}
			if err := ps.Ping(ctx); err != nil {
				return err
			}
		default:
			return err
		}
		if m, ok := msg.(*redis.Message); ok {
			var r revocation
			if json.Unmarshal([]byte(m.Payload), &r) == nil && r.valid() {
				s.revs.add(r)
			}
		}
		if time.Since(lastSync) >= redisSyncEvery || s.unsynced.Swap(false) {
			if err := s.sync(ctx); err != nil {
				return err
			}
			lastSync = time.Now()
		}
	}
}

// sync reads every revocation in Redis into the local copy, and writes
// back the local ones Redis lacks: revoked while it was away, or lost with
// its data.
func (s *redisStore) sync(ctx context.Context) error {
	s.syncing.Lock()
	defer s.syncing.Unlock()
	inRedis := make(map[string]revocation)
	iter := s.client.Scan(ctx, 0, redisPrefix+"*:revoked:*", 1000).Iterator()
	var keys []string
	flush := func() error {
		if len(keys) == 0 {
			return nil
		}
		values, err := s.client.MGet(ctx, keys...).Result()
		if err != nil {
			return err
		}
		for _, v := range values {
			str, ok := v.(string)
			var r revocation
			if ok && json.Unmarshal([]byte(str), &r) == nil && r.valid() {
				s.revs.add(r)
				inRedis[revocationRedisKey(r)] = r
			}
		}
		keys = keys[:0]
		return nil
	}
	for iter.Next(ctx) {
		if keys = append(keys, iter.Val()); len(keys) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	var missing []revocation
	for _, r := range s.revs.list(time.Now()) {
		// Written back too when Redis has an older entry: a user revoked
		// again, or a token kept longer, while Redis was away.
		if got, ok := inRedis[revocationRedisKey(r)]; !ok || r.At > got.At || r.Until > got.Until {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	// A pipeline cannot fall back from EVALSHA to EVAL, and a Redis that
	// restarted has forgotten the script: load it first.
	if err := setIfNewer.Load(ctx, s.client).Err(); err != nil {
		return err
	}
	pipe := s.client.Pipeline()
	// Announced too: an instance that synced before this write would
	// otherwise learn of it only at its next full read.
	for _, r := range missing {
		_ = s.put(ctx, pipe, r)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// attempt counts a login attempt for every instance; see sharedCounter.
func (s *redisStore) attempt(ctx context.Context, key string, max int, window time.Duration, now time.Time) (time.Duration, string, error) {
	if !s.up() {
		return 0, "", errors.New("store unreachable")
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	var id [8]byte
	_, _ = rand.Read(id[:])
	member := strconv.FormatInt(now.UnixMilli(), 10) + "-" + hex.EncodeToString(id[:])
	wait, err := countAttempt.Run(ctx, s.client, []string{redisPrefix + key},
		now.UnixMilli(), window.Milliseconds(), max, member).Int64()
	if err != nil {
		return 0, "", err
	}
	if wait > 0 {
		return time.Duration(wait) * time.Millisecond, "", nil
	}
	return 0, member, nil
}

// undo takes back an attempt counted by attempt.
func (s *redisStore) undo(ctx context.Context, key, id string) {
	if id == "" || !s.up() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	s.client.ZRem(ctx, redisPrefix+key, id)
}
