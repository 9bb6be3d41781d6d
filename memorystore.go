package caddyjwt

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// revocationsStorageKey is where a memory store saves its revocations in
// Caddy's storage.
const revocationsStorageKey = "jwt/revocations.json"

// memoryStore keeps the state in this process, for one instance, and saves
// the revocations to Caddy's storage so that they survive a restart.
type memoryStore struct {
	revs    *revocations
	storage certmagic.Storage
	logger  *zap.Logger
	// saving orders the saves, so that an older list never overwrites a
	// newer one.
	saving sync.Mutex
}

func newMemoryStore(storage certmagic.Storage, logger *zap.Logger) (*memoryStore, error) {
	m := &memoryStore{revs: newRevocations(), storage: storage, logger: logger}
	if storage == nil {
		return m, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data, err := storage.Load(ctx, revocationsStorageKey)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return m, nil
	case err != nil:
		return nil, err
	}
	var saved []revocation
	if err := json.Unmarshal(data, &saved); err != nil {
		// A damaged file must not stop Caddy; what it held is lost.
		logger.Error("saved revocations unreadable; starting without them",
			zap.String("key", revocationsStorageKey), zap.Error(err))
		return m, nil
	}
	for _, r := range saved {
		m.revs.add(r)
	}
	return m, nil
}

func (m *memoryStore) kind() string              { return "memory" }
func (m *memoryStore) revocations() *revocations { return m.revs }
func (m *memoryStore) up() bool                  { return true }
func (m *memoryStore) counter() sharedCounter    { return nil }
func (m *memoryStore) Destruct() error           { return nil }
func (m *memoryStore) revoke(r revocation)       { m.revs.add(r); m.save() }

// save writes the revocations still in force to storage. A failure is
// logged: the revocation holds in this process either way.
func (m *memoryStore) save() {
	if m.storage == nil {
		return
	}
	m.saving.Lock()
	defer m.saving.Unlock()
	data, err := json.Marshal(m.revs.list(time.Now()))
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = m.storage.Store(ctx, revocationsStorageKey, data)
	}
	if err != nil {
		m.logger.Error("saving revocations", zap.String("key", revocationsStorageKey), zap.Error(err))
	}
}
