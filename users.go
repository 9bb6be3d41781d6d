package caddyjwt

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
)

// User is an account that may log in through jwt_login. The same object is
// one entry of a JSON users file.
type User struct {
	// The login name; it becomes the token's `sub`. Required; unique
	// within a backend.
	Username string `json:"username"`

	// The password hash: bcrypt (`$2a$`, `$2b$`, `$2y$`, as made by
	// `caddy hash-password` or `htpasswd -B`) or argon2id (`$argon2id$`,
	// as made by `caddy hash-password --algorithm argon2id`). Other schemes
	// (MD5 `$apr1$`, SHA1 `{SHA}`, crypt, plain text) are refused. Required.
	Password string `json:"password"`

	// Extra claims written into every token issued to this user. They may
	// not override a registered claim (sub, exp, iat, nbf, iss, aud, jti).
	// Default: none.
	Claims map[string]any `json:"claims,omitempty"`

	// A disabled user cannot log in; the answer is the same as for a wrong
	// password. Default: false.
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

// Bounds on the parameters of an argon2id hash. argon2 panics on zero
// iterations or threads, an empty key makes every password match, and a
// huge memory or iteration count turns each login into an out-of-memory
// crash or a stalled core, so such hashes are refused when the users are
// loaded rather than discovered at the first login. The maxima are far
// above what `caddy hash-password` (m=47104, t=1, p=1) or RFC 9106 use.
const (
	argon2MaxMemoryKiB = 1 << 20 // 1 GiB
	argon2MaxTime      = 64
	argon2MinKeyBytes  = 16
	argon2MinSaltBytes = 8
)

// comparerFor picks Caddy's comparer for a password hash, refusing the
// schemes that are no longer safe to store passwords with and hashes whose
// check could not succeed or would crash.
func comparerFor(hash string) (caddyauth.Comparer, error) {
	const howTo = "make a bcrypt hash with `caddy hash-password` or `htpasswd -nbB <user> <password>`"
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("malformed bcrypt hash: %v; %s", err, howTo)
		}
		return caddyauth.BcryptHash{}, nil
	case strings.HasPrefix(hash, "$argon2id$"):
		_, key, err := caddyauth.DecodeHash([]byte(hash))
		if err != nil {
			return nil, fmt.Errorf("malformed argon2id hash: %v; %s", err, howTo)
		}
		if err := checkArgon2id(hash, key); err != nil {
			return nil, fmt.Errorf("unusable argon2id hash: %v; %s", err, howTo)
		}
		return caddyauth.Argon2idHash{}, nil
	case hash == "":
		return nil, fmt.Errorf("missing password hash; %s", howTo)
	default:
		return nil, fmt.Errorf("unsupported password hash (only bcrypt and argon2id are accepted); %s", howTo)
	}
}

// checkArgon2id bounds the parameters of an argon2id hash that
// caddyauth.DecodeHash has accepted. Argon2idHash keeps them unexported, so
// they are read again, the way DecodeHash reads them, from the PHC string
// $argon2id$v=19$m=<KiB>,t=<iterations>,p=<threads>$<salt>$<key>.
func checkArgon2id(hash string, key []byte) error {
	parts := strings.Split(hash, "$")
	params := strings.Split(parts[3], ",")
	m, _ := strconv.ParseUint(strings.TrimPrefix(params[0], "m="), 10, 32)
	t, _ := strconv.ParseUint(strings.TrimPrefix(params[1], "t="), 10, 32)
	p, _ := strconv.ParseUint(strings.TrimPrefix(params[2], "p="), 10, 8)
	salt, _ := base64.RawStdEncoding.DecodeString(parts[4])
	switch {
	case t < 1 || t > argon2MaxTime:
		return fmt.Errorf("iterations t=%d out of range 1..%d", t, argon2MaxTime)
	case p < 1:
		return fmt.Errorf("parallelism p=%d out of range 1..255", p)
	case m > argon2MaxMemoryKiB:
		return fmt.Errorf("memory m=%d KiB over the limit of %d KiB", m, argon2MaxMemoryKiB)
	case len(key) < argon2MinKeyBytes:
		return fmt.Errorf("key is %d bytes; at least %d are needed", len(key), argon2MinKeyBytes)
	case len(salt) < argon2MinSaltBytes:
		return fmt.Errorf("salt is %d bytes; at least %d are needed", len(salt), argon2MinSaltBytes)
	}
	return nil
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

// newUserTable builds a table from the inline users and those read from
// the users file, which parseUsers has already checked.
func newUserTable(inline []User, file string, fromFile []User) (*userTable, error) {
	t := &userTable{accounts: make(map[string]*account, len(inline)+len(fromFile))}
	for _, u := range inline {
		a, err := newAccount(u)
		if err != nil {
			return nil, err
		}
		if _, dup := t.accounts[a.name]; dup {
			return nil, fmt.Errorf("user %q is defined twice", a.name)
		}
		t.add(a)
	}
	for _, u := range fromFile {
		a, err := newAccount(u)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		if _, dup := t.accounts[a.name]; dup {
			return nil, fmt.Errorf("%s: user %q is also defined inline", file, a.name)
		}
		t.add(a)
	}
	return t, nil
}

func (t *userTable) add(a *account) {
	t.accounts[a.name] = a
	if t.dummy == nil {
		t.dummy = a
	}
}

// userStore holds a backend's users: the inline ones and those of the users
// file, which is read again when its modification time changes.
type userStore struct {
	file   string
	inline []User
	logger *zap.Logger

	table atomic.Pointer[userTable]

	// now is the clock of the reload check (tests move it).
	now func() time.Time

	mu        sync.Mutex // serializes reloads
	lastCheck time.Time
	modTime   time.Time
	size      int64
}

// usersCheckInterval is how often, at most, the users file is stat'ed.
const usersCheckInterval = time.Second

func newUserStore(file string, inline []User, logger *zap.Logger) (*userStore, error) {
	s := &userStore{file: file, inline: inline, logger: logger, now: time.Now}
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
		data, err := readConfigFile(s.file, maxUsersFileBytes)
		if err != nil {
			return err
		}
		fromFile, err = parseUsers(s.file, data)
		if err != nil {
			return err
		}
		s.modTime, s.size = info.ModTime(), info.Size()
	}
	t, err := newUserTable(s.inline, s.file, fromFile)
	if err != nil {
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
	now := s.now()
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
	// Editors on Windows like to start a file with a byte order mark;
	// neither format has a use for it.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return parseUsersJSON(name, data)
	}
	return parseHtpasswd(name, data)
}

func parseHtpasswd(name string, data []byte) ([]User, error) {
	var users []User
	seen := usernames{}
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
		if err := seen.add(user, line); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
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
	seen := usernames{}
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
		if err := seen.add(u.Username, line); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
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

// usernames remembers on which line of a users file each name was defined.
type usernames map[string]int

func (seen usernames) add(name string, line int) error {
	if first, dup := seen[name]; dup {
		return fmt.Errorf("user %q is defined twice (first on line %d)", name, first)
	}
	seen[name] = line
	return nil
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
