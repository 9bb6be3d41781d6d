package caddyjwt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
)

// User is an account that may log in through jwt_login.
type User struct {
	// The login name; it becomes the token's `sub`.
	Username string `json:"username"`

	// The password hash: bcrypt (`$2a$`, `$2b$`, `$2y$`, as made by
	// `caddy hash-password` or `htpasswd -B`) or argon2id (`$argon2id$`).
	Password string `json:"password"`

	// Extra claims written into every token issued to this user. They may
	// not override a registered claim (sub, exp, iat, nbf, iss, aud, jti).
	Claims map[string]any `json:"claims,omitempty"`

	// A disabled user cannot log in; the answer is the same as for a wrong
	// password.
	Disabled bool `json:"disabled,omitempty"`
}

// reservedClaims are the registered claims the issuer writes itself.
var reservedClaims = []string{"sub", "exp", "iat", "nbf", "iss", "aud", "jti"}

// checkUserClaims refuses user claims that would override a registered claim.
func checkUserClaims(claims map[string]any) error {
	for _, c := range reservedClaims {
		if _, ok := claims[c]; ok {
			return fmt.Errorf("claim %q is reserved and cannot be set per user", c)
		}
	}
	return nil
}

// comparerFor picks Caddy's comparer for a password hash, refusing the
// schemes that are no longer safe to store passwords with.
func comparerFor(hash string) (caddyauth.Comparer, error) {
	const howTo = "make a bcrypt hash with `caddy hash-password` or `htpasswd -nbB <user> <password>`"
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("malformed bcrypt hash: %v; %s", err, howTo)
		}
		return caddyauth.BcryptHash{}, nil
	case strings.HasPrefix(hash, "$argon2id$"):
		if _, _, err := caddyauth.DecodeHash([]byte(hash)); err != nil {
			return nil, fmt.Errorf("malformed argon2id hash: %v; %s", err, howTo)
		}
		return caddyauth.Argon2idHash{}, nil
	case hash == "":
		return nil, fmt.Errorf("missing password hash; %s", howTo)
	default:
		return nil, fmt.Errorf("unsupported password hash (only bcrypt and argon2id are accepted); %s", howTo)
	}
}

// account is a user ready for password checks.
type account struct {
	name     string
	hash     []byte
	cmp      caddyauth.Comparer
	claims   map[string]any
	disabled bool
}

func newAccount(u User) (*account, error) {
	if u.Username == "" {
		return nil, errors.New("user without a username")
	}
	cmp, err := comparerFor(u.Password)
	if err != nil {
		return nil, fmt.Errorf("user %q: %v", u.Username, err)
	}
	if err := checkUserClaims(u.Claims); err != nil {
		return nil, fmt.Errorf("user %q: %v", u.Username, err)
	}
	return &account{name: u.Username, hash: []byte(u.Password), cmp: cmp, claims: u.Claims, disabled: u.Disabled}, nil
}

// userTable is one immutable generation of a backend's users.
type userTable struct {
	accounts map[string]*account
	// dummy is checked instead of a missing user so that an unknown name
	// costs exactly what a known one does: it is a real user's hash, so its
	// algorithm and cost are the backend's own. Its result is discarded.
	dummy *account
}

func newUserTable(lists ...[]User) (*userTable, error) {
	t := &userTable{accounts: make(map[string]*account)}
	for _, list := range lists {
		for _, u := range list {
			a, err := newAccount(u)
			if err != nil {
				return nil, err
			}
			if _, dup := t.accounts[a.name]; dup {
				return nil, fmt.Errorf("user %q is defined twice", a.name)
			}
			t.accounts[a.name] = a
			if t.dummy == nil {
				t.dummy = a
			}
		}
	}
	return t, nil
}

// userStore holds a backend's users: the inline ones and those of the users
// file, which is read again when its modification time changes.
type userStore struct {
	file   string
	inline []User
	logger *zap.Logger

	table atomic.Pointer[userTable]

	mu        sync.Mutex // serializes reloads
	lastCheck time.Time
	modTime   time.Time
	size      int64
}

// usersCheckInterval is how often, at most, the users file is stat'ed.
const usersCheckInterval = time.Second

func newUserStore(file string, inline []User, logger *zap.Logger) (*userStore, error) {
	s := &userStore{file: file, inline: inline, logger: logger}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads the users file (if any) and swaps in a new table.
func (s *userStore) load() error {
	var fromFile []User
	if s.file != "" {
		info, err := os.Stat(s.file)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(s.file)
		if err != nil {
			return err
		}
		fromFile, err = parseUsers(s.file, data)
		if err != nil {
			return err
		}
		s.modTime, s.size = info.ModTime(), info.Size()
	}
	t, err := newUserTable(s.inline, fromFile)
	if err != nil {
		if s.file != "" {
			return fmt.Errorf("%s: %v", s.file, err)
		}
		return err
	}
	s.table.Store(t)
	return nil
}

// current returns the users, re-reading the file first if it changed. A
// broken file keeps the last good users and logs why.
func (s *userStore) current() *userTable {
	if s.file == "" {
		return s.table.Load()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.lastCheck) < usersCheckInterval {
		return s.table.Load()
	}
	s.lastCheck = now
	info, err := os.Stat(s.file)
	if err != nil {
		s.logger.Error("users file unreadable; keeping the last good users", zap.String("file", s.file), zap.Error(err))
		return s.table.Load()
	}
	if info.ModTime().Equal(s.modTime) && info.Size() == s.size {
		return s.table.Load()
	}
	if err := s.load(); err != nil {
		// Remember what we saw, so a broken file is reported once, not on
		// every login.
		s.modTime, s.size = info.ModTime(), info.Size()
		s.logger.Error("users file is broken; keeping the last good users", zap.String("file", s.file), zap.Error(err))
	} else {
		s.logger.Info("users file reloaded", zap.String("file", s.file), zap.Int("users", len(s.table.Load().accounts)))
	}
	return s.table.Load()
}

// parseUsers reads a users file: JSON when its first non-blank byte is `[`,
// else htpasswd style. Errors name the file and line.
func parseUsers(name string, data []byte) ([]User, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return parseUsersJSON(name, data)
	}
	return parseHtpasswd(name, data)
}

func parseHtpasswd(name string, data []byte) ([]User, error) {
	var users []User
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(text, ":")
		user, hash = strings.TrimSpace(user), strings.TrimSpace(hash)
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d: expected <username>:<hash>", name, line)
		}
		if _, err := comparerFor(hash); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: %v", name, line, user, err)
		}
		users = append(users, User{Username: user, Password: hash})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return users, nil
}

func parseUsersJSON(name string, data []byte) ([]User, error) {
	lineAt := func(offset int64) int { return 1 + bytes.Count(data[:min(int(offset), len(data))], []byte("\n")) }
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if _, err := dec.Token(); err != nil { // the opening [
		return nil, fmt.Errorf("%s:%d: %v", name, lineAt(dec.InputOffset()), err)
	}
	var users []User
	for dec.More() {
		start := dec.InputOffset()
		var u User
		if err := dec.Decode(&u); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("%s:%d: %v", name, lineAt(se.Offset), err)
			}
			return nil, fmt.Errorf("%s:%d: %v", name, lineAt(start)+leadingNewlines(data[start:]), err)
		}
		line := lineAt(start) + leadingNewlines(data[start:])
		if u.Username == "" {
			return nil, fmt.Errorf("%s:%d: user without a username", name, line)
		}
		if _, err := comparerFor(u.Password); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: %v", name, line, u.Username, err)
		}
		if err := checkUserClaims(u.Claims); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: %v", name, line, u.Username, err)
		}
		users = append(users, u)
	}
	if _, err := dec.Token(); err != nil { // the closing ]
		return nil, fmt.Errorf("%s:%d: %v", name, lineAt(dec.InputOffset()), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s:%d: unexpected data after the list of users", name, lineAt(dec.InputOffset()))
	}
	return users, nil
}

// leadingNewlines counts the line breaks between a decoder offset (which
// sits after the previous comma) and the start of the next value.
func leadingNewlines(b []byte) int {
	n := 0
	for _, c := range b {
		switch c {
		case '\n':
			n++
		case ' ', '\t', '\r', ',':
		default:
			return n
		}
	}
	return n
}
