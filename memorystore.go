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

// Where a memory store saves its state in Caddy's storage: the revocations
// in one key, each refresh family in its own.
const (
	revocationsStorageKey = "jwt/revocations.json"
	familiesStoragePrefix = "jwt/refresh"
)

// memoryStore keeps the state in this process, for one instance, and saves
// the revocations and refresh families to Caddy's storage so that they
// survive a restart.
type memoryStore struct {
	revs    *revocations
	storage certmagic.Storage
	logger  *zap.Logger
	// saving orders the saves, so that an older list never overwrites a
	// newer one.
	saving sync.Mutex

	// famMu guards the families; each family's saves are ordered by its
	// own lock, so that a slow disk holds up only that family.
	famMu sync.Mutex
	fams  map[revocationKey]*memoryFamily // by backend and id
	// byHash finds a family by the hash of any token it had.
	byHash    map[revocationKey]string
	lastSweep time.Time
}

func newMemoryStore(storage certmagic.Storage, logger *zap.Logger) (*memoryStore, error) {
	m := &memoryStore{
		revs: newRevocations(), storage: storage, logger: logger,
		fams: make(map[revocationKey]*memoryFamily), byHash: make(map[revocationKey]string),
	}
	if storage == nil {
		return m, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.loadFamilies(ctx); err != nil {
		return nil, err
	}
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
func (m *memoryStore) families() familyStore     { return m }
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

// familyStorageKey is where a family is saved.
func familyStorageKey(backend, id string) string {
	return familiesStoragePrefix + "/" + backend + "/" + id
}

// loadFamilies reads the saved families that have not expired. A damaged
// one is skipped: its login has to sign in again.
func (m *memoryStore) loadFamilies(ctx context.Context) error {
	keys, err := m.storage.List(ctx, familiesStoragePrefix, true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	for _, key := range keys {
		if info, err := m.storage.Stat(ctx, key); err != nil || !info.IsTerminal {
			continue // a backend's directory, or deleted meanwhile
		}
		data, err := m.storage.Load(ctx, key)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		f := new(family)
		if err != nil || json.Unmarshal(data, f) != nil || f.ID == "" || f.Backend == "" {
			m.logger.Error("saved refresh family unreadable; skipping it", zap.String("key", key))
			continue
		}
		if f.Expires <= now {
			_ = m.storage.Delete(ctx, key)
			continue
		}
		m.index(f)
	}
	return nil
}

// memoryFamily is a family as the memory store keeps it: with the version
// of its last change and of its last save, so that an older state is never
// saved over a newer one.
type memoryFamily struct {
	family
	version uint64

	saving sync.Mutex
	saved  uint64
}

// index keeps f and finds it by each of its tokens.
func (m *memoryStore) index(f *family) *memoryFamily {
	mf := &memoryFamily{family: *f, version: 1}
	m.fams[revocationKey{f.Backend, f.ID}] = mf
	for _, h := range f.Hashes {
		m.byHash[revocationKey{f.Backend, h}] = f.ID
	}
	return mf
}

func (m *memoryStore) createFamily(ctx context.Context, f *family) error {
	m.famMu.Lock()
	m.sweep(ctx, time.Now())
	saved := *f
	saved.Hashes = []string{f.Current}
	mf := m.index(&saved)
	data, err := json.Marshal(&mf.family)
	m.famMu.Unlock()
	if err != nil {
		return err
	}
	m.saveFamily(ctx, mf, 1, data)
	return nil
}

func (m *memoryStore) familyOf(_ context.Context, backend, h string) (string, bool, error) {
	m.famMu.Lock()
	defer m.famMu.Unlock()
	id, ok := m.byHash[revocationKey{backend, h}]
	return id, ok, nil
}

func (m *memoryStore) updateFamily(ctx context.Context, backend, id string, change func(*family) bool) (bool, error) {
	m.famMu.Lock()
	mf, ok := m.fams[revocationKey{backend, id}]
	if !ok {
		m.famMu.Unlock()
		return false, nil
	}
	f := &mf.family
	current := f.Current
	if !change(f) {
		m.famMu.Unlock()
		return true, nil
	}
	if f.Current != current {
		f.Hashes = append(f.Hashes, f.Current)
		m.byHash[revocationKey{backend, f.Current}] = id
		if n := len(f.Hashes) - maxFamilyHashes; n > 0 {
			for _, h := range f.Hashes[:n] {
				delete(m.byHash, revocationKey{backend, h})
			}
			f.Hashes = append([]string(nil), f.Hashes[n:]...)
		}
	}
	mf.version++
	version := mf.version
	data, err := json.Marshal(f)
	m.famMu.Unlock()
	if err != nil {
		return true, err
	}
	m.saveFamily(ctx, mf, version, data)
	return true, nil
}

// saveFamily writes version of mf, encoded as data, to storage unless a
// newer one is saved already. A failure is logged, and the family goes on
// in this process.
func (m *memoryStore) saveFamily(ctx context.Context, mf *memoryFamily, version uint64, data []byte) {
	if m.storage == nil {
		return
	}
	mf.saving.Lock()
	defer mf.saving.Unlock()
	if version <= mf.saved {
		return
	}
	if err := m.storage.Store(ctx, familyStorageKey(mf.Backend, mf.ID), data); err != nil {
		m.logger.Error("saving a refresh family", zap.String("backend", mf.Backend), zap.Error(err))
		return
	}
	mf.saved = version
}

// sweep forgets the families that have expired, at most once a minute.
func (m *memoryStore) sweep(ctx context.Context, now time.Time) {
	if now.Sub(m.lastSweep) < time.Minute {
		return
	}
	m.lastSweep = now
	for k, f := range m.fams {
		if f.Expires > now.Unix() {
			continue
		}
		delete(m.fams, k)
		for _, h := range f.Hashes {
			delete(m.byHash, revocationKey{f.Backend, h})
		}
		if m.storage != nil {
			_ = m.storage.Delete(ctx, familyStorageKey(f.Backend, f.ID))
		}
	}
}
