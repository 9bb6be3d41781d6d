// Refresh token families in Redis, shared by every instance: a family is
// one key, and each token hash a key naming its family, both expiring with
// the family.

package caddyjwt

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// familyRedisKey and refreshRedisKey are where a family and a token hash
// live. Backend names hold no colon, so the prefix of a backend is its own.
func familyRedisKey(backend, id string) string {
	return redisPrefix + backend + ":family:" + id
}

func refreshRedisKey(backend, h string) string {
	return redisPrefix + backend + ":refresh:" + h
}

// maxFamilyRetries bounds the optimistic transactions of one update: each
// retry means another instance changed the family meanwhile.
const maxFamilyRetries = 8

func (s *redisStore) families() familyStore { return s }

// call gives a family call its deadline, or errStoreDown at once while
// Redis is away.
func (s *redisStore) call(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if !s.up() {
		return ctx, func() {}, errStoreDown
	}
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	return ctx, cancel, nil
}

func (s *redisStore) createFamily(ctx context.Context, f *family) error {
	ctx, cancel, err := s.call(ctx)
	defer cancel()
	if err != nil {
		return err
	}
	value, err := json.Marshal(f)
	if err != nil {
		return err
	}
	at := time.Unix(f.Expires, 0)
	_, err = s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SetArgs(ctx, familyRedisKey(f.Backend, f.ID), value, redis.SetArgs{ExpireAt: at})
		p.SetArgs(ctx, refreshRedisKey(f.Backend, f.Current), f.ID, redis.SetArgs{ExpireAt: at})
		return nil
	})
	return err
}

func (s *redisStore) familyOf(ctx context.Context, backend, h string) (string, bool, error) {
	ctx, cancel, err := s.call(ctx)
	defer cancel()
	if err != nil {
		return "", false, err
	}
	id, err := s.client.Get(ctx, refreshRedisKey(backend, h)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return id, true, nil
}

// updateFamily changes a family in an optimistic transaction (WATCH),
// retried when another instance changed it meanwhile, so that the rotation
// rule runs in Go on a value no other instance can change under it.
func (s *redisStore) updateFamily(ctx context.Context, backend, id string, change func(*family) bool) (bool, error) {
	ctx, cancel, err := s.call(ctx)
	defer cancel()
	if err != nil {
		return false, err
	}
	key := familyRedisKey(backend, id)
	found := false
	update := func(tx *redis.Tx) error {
		data, err := tx.Get(ctx, key).Bytes()
		if errors.Is(err, redis.Nil) {
			found = false
			return nil
		}
		if err != nil {
			return err
		}
		var f family
		if err := json.Unmarshal(data, &f); err != nil {
			return err
		}
		found = true
		current := f.Current
		if !change(&f) {
			return nil
		}
		value, err := json.Marshal(&f)
		if err != nil {
			return err
		}
		at := time.Unix(f.Expires, 0)
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.SetArgs(ctx, key, value, redis.SetArgs{ExpireAt: at})
			if f.Current != current {
				p.SetArgs(ctx, refreshRedisKey(backend, f.Current), id, redis.SetArgs{ExpireAt: at})
			}
			return nil
		})
		return err
	}
	for range maxFamilyRetries {
		err = s.client.Watch(ctx, update, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return found, err
		}
	}
	return false, err
}
