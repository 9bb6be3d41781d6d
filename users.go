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
	// The login name, such as an email address. Required; unique within
	// a backend.
	Username string `json:"username"`

	// The user's id: the token's `sub` (and its user_claim), by which
	// revocations name the user, so that people log in by username while
	// apps see a stable id such as a UUID. Ids, or usernames where there
	// is no id, are unique within a backend. Default: the username.
	ID string `json:"id,omitempty"`

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
		if _, _, err := caddyauth.DecodeHash([]byte(hash)); err != nil {
			return nil, fmt.Errorf("malformed argon2id hash: %v; %s", err, howTo)
		}
		if err := checkArgon2id(readArgon2id(hash)); err != nil {
			return nil, fmt.Errorf("unusable argon2id hash: %v; %s", err, howTo)
		}
		return caddyauth.Argon2idHash{}, nil
	case hash == "":
		return nil, fmt.Errorf("missing password hash; %s", howTo)
	default:
		return nil, fmt.Errorf("unsupported password hash (only bcrypt and argon2id are accepted); %s", howTo)
	}
}

// argon2idParams are the parameters of an argon2id hash.
type argon2idParams struct {
	m, t, p   uint64
	salt, key []byte
}

// readArgon2id reads the parameters of an argon2id hash that
// caddyauth.DecodeHash has accepted. Argon2idHash keeps them unexported, so
// they are read again, the way DecodeHash reads them, from the PHC string
// $argon2id$v=19$m=<KiB>,t=<iterations>,p=<threads>$<salt>$<key>.
func readArgon2id(hash string) argon2idParams {
	parts := strings.Split(hash, "$")
	params := strings.Split(parts[3], ",")
	var a argon2idParams
	a.m, _ = strconv.ParseUint(strings.TrimPrefix(params[0], "m="), 10, 32)
	a.t, _ = strconv.ParseUint(strings.TrimPrefix(params[1], "t="), 10, 32)
	a.p, _ = strconv.ParseUint(strings.TrimPrefix(params[2], "p="), 10, 8)
	a.salt, _ = base64.RawStdEncoding.DecodeString(parts[4])
	a.key, _ = base64.RawStdEncoding.DecodeString(parts[5])
	return a
}

// checkArgon2id bounds the parameters of an argon2id hash.
func checkArgon2id(a argon2idParams) error {
	switch {
	case a.t < 1 || a.t > argon2MaxTime:
		return fmt.Errorf("iterations t=%d out of range 1..%d", a.t, argon2MaxTime)
	case a.p < 1:
		return fmt.Errorf("parallelism p=%d out of range 1..255", a.p)
	case a.m > argon2MaxMemoryKiB:
		return fmt.Errorf("memory m=%d KiB over the limit of %d KiB", a.m, argon2MaxMemoryKiB)
	case len(a.key) < argon2MinKeyBytes:
		return fmt.Errorf("key is %d bytes; at least %d are needed", len(a.key), argon2MinKeyBytes)
	case len(a.salt) < argon2MinSaltBytes:
		return fmt.Errorf("salt is %d bytes; at least %d are needed", len(a.salt), argon2MinSaltBytes)
	}
	return nil
}

// shapeOf names what the time of a check against a hash, which comparerFor
// has accepted, depends on: its algorithm and cost parameters.
func shapeOf(hash []byte) string {
	if cost, err := bcrypt.Cost(hash); err == nil {
		return "bcrypt cost " + strconv.Itoa(cost)
	}
	a := readArgon2id(string(hash))
	return fmt.Sprintf("argon2id m=%d,t=%d,p=%d key %d bytes", a.m, a.t, a.p, len(a.key))
}

// account is a user ready for password checks.
type account struct {
	name string
	// id is the user's id: ID, else the username.
	id       string
	hash     []byte
	cmp      caddyauth.Comparer
	shape    *hashShape
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
	return &account{name: u.Username, id: u.id(), hash: []byte(u.Password), cmp: cmp, claims: u.Claims, disabled: u.Disabled}, nil
}

// id is the user's effective id: ID, else the username.
func (u User) id() string {
	if u.ID != "" {
		return u.ID
	}
	return u.Username
}

// checkIDClaim refuses a user claim named as the backend's user_claim:
// tokens carry the user's id there.
func checkIDClaim(u User, userClaim string) error {
	if _, ok := u.Claims[userClaim]; ok && userClaim != "" {
		return fmt.Errorf("user %q: claim %q is the user_claim, which carries the user's id; set the id instead (id=<value>, or \"id\" in a JSON users file)", u.Username, userClaim)
	}
	return nil
}

// userIDs remembers which user has each effective id, so that two users
// of a backend never share one.
type userIDs map[string]string

func (ids userIDs) add(u User) error {
	id := u.id()
	if other, dup := ids[id]; dup && other != u.Username {
		return fmt.Errorf("user %q: id %q is already the id of user %q", u.Username, id, other)
	}
	ids[id] = u.Username
	return nil
}

// userTable is one immutable generation of a backend's users.
type userTable struct {
	accounts map[string]*account
	// shapes are the algorithms and costs of the users' hashes, in the
	// order of their first user; an unknown name is checked against one
	// of them (decoy).
	shapes []*hashShape
}

// newUserTable builds a table from the inline users and those read from
// the users file, which parseUsers has already checked.
func newUserTable(inline []User, file string, fromFile []User) (*userTable, error) {
	t := &userTable{accounts: make(map[string]*account, len(inline)+len(fromFile))}
	shapes := map[string]*hashShape{}
	ids := userIDs{}
	for _, u := range inline {
		a, err := newAccount(u)
		if err != nil {
			return nil, err
		}
		if _, dup := t.accounts[a.name]; dup {
			return nil, fmt.Errorf("user %q is defined twice", a.name)
		}
		if err := ids.add(u); err != nil {
			return nil, err
		}
		t.add(a, shapes)
	}
	for _, u := range fromFile {
		a, err := newAccount(u)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		if _, dup := t.accounts[a.name]; dup {
			return nil, fmt.Errorf("%s: user %q is also defined inline", file, a.name)
		}
		if err := ids.add(u); err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		t.add(a, shapes)
	}
	return t, nil
}

func (t *userTable) add(a *account, shapes map[string]*hashShape) {
	t.accounts[a.name] = a
	name := shapeOf(a.hash)
	s := shapes[name]
	if s == nil {
		s = &hashShape{name: name, rep: a}
		shapes[name] = s
		t.shapes = append(t.shapes, s)
	}
	s.users++
	a.shape = s
}

// userStore holds a backend's users: the inline ones and those of the users
// file, which is read again when its modification time changes.
type userStore struct {
	file   string
	inline []User
	// userClaim is the backend's user_claim, which carries the user's id.
	userClaim string
	logger    *zap.Logger
	// times are the check times learned for each shape of hash.
	times *checkTimes

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

func newUserStore(file string, inline []User, userClaim string, logger *zap.Logger) (*userStore, error) {
	s := &userStore{file: file, inline: inline, userClaim: userClaim, logger: logger, times: learnedCheckTimes, now: time.Now}
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
	for _, u := range fromFile {
		if err := checkIDClaim(u, s.userClaim); err != nil {
			return fmt.Errorf("%s: %v", s.file, err)
		}
	}
	for _, sh := range t.shapes {
		sh.time = s.times.of(sh.name)
	}
	if len(t.shapes) > 1 {
		s.warnMixedHashes(t)
		go t.timeShapes()
	}
	s.table.Store(t)
	return nil
}

// warnMixedHashes says why users' hashes should share one algorithm and
// cost.
func (s *userStore) warnMixedHashes(t *userTable) {
	hashes := make([]string, len(t.shapes))
	for i, sh := range t.shapes {
		users := " users)"
		if sh.users == 1 {
			users = " user)"
		}
		hashes[i] = sh.name + " (" + strconv.Itoa(sh.users) + users
	}
	file := zap.Skip()
	if s.file != "" {
		file = zap.String("file", s.file)
	}
	s.logger.Warn("users' password hashes differ in algorithm or cost; hash every password again with one algorithm and cost",
		file, zap.Strings("hashes", hashes),
		zap.String("why", "every login waits as long as a check of the costliest hash takes, so that its time "+
			"does not tell which users exist: users with cheaper hashes sign in more slowly, and an attacker "+
			"who times many logins, or the load their checks put on the server, may still tell them apart"))
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
	seen, ids := usernames{}, userIDs{}
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
		if err := ids.add(u); err != nil {
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
