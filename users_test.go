package caddyjwt

import (
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// cheapArgon2idHash makes a PHC argon2id hash, the format of
// `caddy hash-password --algorithm argon2id`, with cheap parameters.
func cheapArgon2idHash(t testing.TB, password string) string {
	t.Helper()
	return argon2idHashWith(password, 64, 1)
}

// argon2idHashWith hashes password with argon2id of memKiB KiB and
// iterations passes, one thread, a fixed salt and a 32-byte key.
func argon2idHashWith(password string, memKiB, iterations uint32) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(password), salt, iterations, memKiB, 1, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=1$%s$%s", argon2.Version, memKiB, iterations,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// bcryptWithPrefix gives a bcrypt hash another of the equivalent version
// prefixes: htpasswd -B writes $2y$, OpenBSD $2b$, Go and Caddy $2a$.
func bcryptWithPrefix(hash, prefix string) string { return prefix + strings.TrimPrefix(hash, "$2a$") }

func TestParseUsersAcceptsHtpasswdAndJSON(t *testing.T) {
	bc := bcryptHashForTest(t, "pw")
	ar := cheapArgon2idHash(t, "pw")
	tests := []struct {
		name    string
		content string
		want    []User
	}{
		{
			"htpasswd skips comments and blank lines",
			"# admins\n\nalice:" + bc + "\n   \n  # another comment\nbob:" + ar + "\n",
			[]User{{Username: "alice", Password: bc}, {Username: "bob", Password: ar}},
		},
		{
			"htpasswd accepts every bcrypt prefix and argon2id",
			"a:" + bc + "\nb:" + bcryptWithPrefix(bc, "$2b$") + "\ny:" + bcryptWithPrefix(bc, "$2y$") + "\nz:" + ar,
			[]User{
				{Username: "a", Password: bc},
				{Username: "b", Password: bcryptWithPrefix(bc, "$2b$")},
				{Username: "y", Password: bcryptWithPrefix(bc, "$2y$")},
				{Username: "z", Password: ar},
			},
		},
		{
			"htpasswd with CRLF line ends and spaces around fields",
			"alice : " + bc + " \r\n\r\nbob:" + bc + "\r\n",
			[]User{{Username: "alice", Password: bc}, {Username: "bob", Password: bc}},
		},
		{
			"htpasswd after a byte order mark",
			"\ufeffalice:" + bc + "\n",
			[]User{{Username: "alice", Password: bc}},
		},
		{
			"an empty file has no users",
			"",
			nil,
		},
		{
			"a file of comments has no users",
			"# nobody yet\n",
			nil,
		},
		{
			"JSON list with claims and disabled",
			`[
	{"username": "alice", "password": "` + bc + `", "claims": {"role": "admin", "groups": ["a", "b"], "level": 3}},
	{"username": "bob", "password": "` + ar + `", "disabled": true}
]`,
			[]User{
				{Username: "alice", Password: bc, Claims: map[string]any{"role": "admin", "groups": []any{"a", "b"}, "level": float64(3)}},
				{Username: "bob", Password: ar, Disabled: true},
			},
		},
		{
			"JSON after blank lines and a byte order mark",
			"\ufeff\n\n  [{\"username\":\"alice\",\"password\":\"" + bc + "\"}]\n",
			[]User{{Username: "alice", Password: bc}},
		},
		{
			"an empty JSON list has no users",
			"[]",
			nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUsers("users.txt", []byte(tt.content))
			if err != nil {
				t.Fatalf("parseUsers: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// bcryptHowTo is what every refused hash must tell the user.
var bcryptHowTo = []string{"bcrypt", "caddy hash-password", "htpasswd -nbB"}

func TestParseUsersErrorsNameFileAndLine(t *testing.T) {
	bc := bcryptHashForTest(t, "pw")
	ar := cheapArgon2idHash(t, "pw")
	arKey := ar[strings.LastIndex(ar, "$")+1:]
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	// argon2id hashes with one parameter out of range.
	argon := func(params, salt, key string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }

	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"htpasswd line without a colon", "# c\nalice:" + bc + "\njustaname\n", []string{"users.txt:3:", "<username>:<hash>"}},
		{"htpasswd line without a username", "\n:" + bc, []string{"users.txt:2:", "<username>:<hash>"}},
		{"htpasswd user without a hash", "alice:\n", append([]string{"users.txt:1:", `user "alice"`, "missing password hash"}, bcryptHowTo...)},
		{"Apache MD5 hash is refused", "alice:" + bc + "\nbob:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n", append([]string{"users.txt:2:", `user "bob"`, "unsupported"}, bcryptHowTo...)},
		{"SHA1 hash is refused", "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", append([]string{"users.txt:1:", "unsupported"}, bcryptHowTo...)},
		{"plain text password is refused", "\n\nbob:hunter2\n", append([]string{"users.txt:3:", "unsupported"}, bcryptHowTo...)},
		{"DES crypt hash is refused", "bob:abJnggxhB/yWI\n", append([]string{"users.txt:1:", "unsupported"}, bcryptHowTo...)},
		{"MD5 crypt hash is refused", "bob:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/\n", append([]string{"users.txt:1:", "unsupported"}, bcryptHowTo...)},
		{"SHA-512 crypt hash is refused", "bob:$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/\n", append([]string{"users.txt:1:", "unsupported"}, bcryptHowTo...)},
		{"truncated bcrypt hash is refused", "bob:" + bc[:40] + "\n", append([]string{"users.txt:1:", "malformed bcrypt hash"}, bcryptHowTo...)},
		{"bcrypt hash with a bad cost is refused", "bob:$2y$99$" + bc[7:] + "\n", []string{"users.txt:1:", "malformed bcrypt hash"}},
		{"argon2 (not argon2id) is refused", "bob:" + strings.Replace(ar, "argon2id", "argon2i", 1), []string{"users.txt:1:", "unsupported"}},
		{"argon2id hash with zero iterations is refused", "bob:" + argon("m=64,t=0,p=1", salt, arKey), []string{"users.txt:1:", "argon2id", "t=0"}},
		{"argon2id hash with zero threads is refused", "bob:" + argon("m=64,t=1,p=0", salt, arKey), []string{"users.txt:1:", "argon2id", "p=0"}},
		{"argon2id hash without a key is refused", "bob:" + argon("m=64,t=1,p=1", salt, ""), []string{"users.txt:1:", "argon2id", "key is 0 bytes"}},
		{"argon2id hash with a tiny salt is refused", "bob:" + argon("m=64,t=1,p=1", "c2FsdA", arKey), []string{"users.txt:1:", "argon2id", "salt is 4 bytes"}},
		{"argon2id hash asking for 4 GiB per login is refused", "bob:" + argon("m=4194304,t=1,p=1", salt, arKey), []string{"users.txt:1:", "argon2id", "memory"}},
		{"argon2id hash asking for endless iterations is refused", "bob:" + argon("m=64,t=4000000000,p=1", salt, arKey), []string{"users.txt:1:", "argon2id", "iterations"}},
		{"garbled argon2id hash is refused", "bob:$argon2id$v=19$m=64$x", append([]string{"users.txt:1:", "malformed argon2id hash"}, bcryptHowTo...)},
		{"htpasswd user defined twice", "alice:" + bc + "\n# again\nalice:" + bc + "\n", []string{"users.txt:3:", `user "alice" is defined twice`, "line 1"}},
		{"JSON syntax error", "[\n  {\"username\": \"alice\", \"password\": \"" + bc + "\"}\n  {\"username\": \"bob\"}\n]", []string{"users.txt:3:", "expected comma"}},
		{"JSON unknown field", "[\n\n  {\"username\": \"alice\", \"pasword\": \"" + bc + "\"}\n]", []string{"users.txt:3:", "unknown field", "pasword"}},
		{"JSON user without a username", "[\n  {\"username\": \"alice\", \"password\": \"" + bc + "\"},\n  {\"password\": \"" + bc + "\"}\n]", []string{"users.txt:3:", "without a username"}},
		{"JSON user with an unsupported hash", "[\n  {\"username\": \"alice\", \"password\": \"" + bc + "\"},\n\n  {\"username\": \"bob\", \"password\": \"{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\"}\n]", append([]string{"users.txt:4:", `user "bob"`, "unsupported"}, bcryptHowTo...)},
		{"JSON user with a reserved claim", "[\n  {\"username\": \"alice\", \"password\": \"" + bc + "\",\n   \"claims\": {\"exp\": 1}}\n]", []string{"users.txt:2:", `user "alice"`, `claim "exp" is reserved`}},
		{"JSON user overriding sub", "[{\"username\": \"alice\", \"password\": \"" + bc + "\", \"claims\": {\"sub\": \"root\"}}]", []string{"users.txt:1:", `claim "sub" is reserved`}},
		{"JSON user defined twice", "[\n {\"username\":\"a\",\"password\":\"" + bc + "\"},\n {\"username\":\"a\",\"password\":\"" + bc + "\"}\n]", []string{"users.txt:3:", `user "a" is defined twice`, "line 2"}},
		{"JSON list not closed", "[\n {\"username\":\"a\",\"password\":\"" + bc + "\"}\n", []string{"users.txt:", "EOF"}},
		{"JSON with data after the list", "[]\n\n[]", []string{"users.txt:3:", "after the list"}},
		{"JSON list of something else", "[\n 42\n]", []string{"users.txt:2:", "cannot unmarshal"}},
		{"JSON wrong type of field", "[\n {\"username\":\"a\",\"password\":\"" + bc + "\",\"disabled\":\"yes\"}\n]", []string{"users.txt:2:", "disabled"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, err := parseUsers("users.txt", []byte(tt.content))
			if err == nil {
				t.Fatalf("accepted: %#v", users)
			}
			wantMentions(t, err, tt.want...)
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q repeats the plain text password", err)
			}
		})
	}
}

// usersClock is a clock the test moves by hand.
type usersClock struct{ t time.Time }

func (c *usersClock) now() time.Time          { return c.t }
func (c *usersClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// rewrite replaces a file's content and moves its modification time
// forward, as an editor saving it later would.
func rewriteUsersFile(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// names lists a table's users, sorted.
func userNames(tab *userTable) string {
	return strings.Join(slices.Sorted(maps.Keys(tab.accounts)), ",")
}

// fileUserStore is a store of a users file written with content an hour
// ago and of one inline user, root, whose hash is rootHash; its clock is
// the returned one, and its logs are kept.
func fileUserStore(t *testing.T, content, rootHash string) (s *userStore, path string, mtime time.Time, clock *usersClock, logs *observer.ObservedLogs) {
	t.Helper()
	path = tempFile(t, "users", content)
	mtime = time.Now().Add(-time.Hour)
	rewriteUsersFile(t, path, content, mtime)
	core, logs := observer.New(zapcore.InfoLevel)
	s, err := newUserStore(path, []User{{Username: "root", Password: rootHash}}, "sub", zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	clock = &usersClock{t: time.Now()}
	s.now = clock.now
	return s, path, mtime, clock, logs
}

func TestUserStoreReloadsWhenTheFileChanges(t *testing.T) {
	bc := bcryptHashForTest(t, "pw")
	s, path, mtime, clock, logs := fileUserStore(t, "alice:"+bc+"\n", bc)

	step := func(what string, advance time.Duration, want string) {
		t.Helper()
		clock.advance(advance)
		if got := userNames(s.current()); got != want {
			t.Fatalf("%s: users %q, want %q", what, got, want)
		}
	}
	step("at start", 0, "alice,root")

	mtime = mtime.Add(time.Minute)
	rewriteUsersFile(t, path, "alice:"+bc+"\nbob:"+bc+"\n", mtime)
	step("within the check interval the file is not looked at", 500*time.Millisecond, "alice,root")
	step("after the check interval the new user is there", 600*time.Millisecond, "alice,bob,root")
	if n := logs.FilterMessage("users file reloaded").Len(); n != 1 {
		t.Errorf("%d reload lines logged, want 1", n)
	}

	// Same size, same name lengths, new modification time: still reloaded.
	mtime = mtime.Add(time.Minute)
	rewriteUsersFile(t, path, "alice:"+bc+"\ncarl:"+bc[:len(bc)-1]+"x\n", mtime)
	step("a rewrite of the same size is noticed by its time", 2*time.Second, "alice,carl,root")

	mtime = mtime.Add(time.Minute)
	rewriteUsersFile(t, path, "alice:"+bc+"\ndave:hunter2\n", mtime)
	step("a broken file keeps the last good users", 2*time.Second, "alice,carl,root")
	broken := logs.FilterMessage("users file is broken; keeping the last good users").AllUntimed()
	if len(broken) != 1 || broken[0].Level != zapcore.ErrorLevel {
		t.Fatalf("want one error line for the broken file, got %v", broken)
	}
	msg := fmt.Sprint(broken[0].ContextMap())
	if !strings.Contains(msg, path+":2") || !strings.Contains(msg, "unsupported") {
		t.Errorf("broken-file log %s does not name %s:2 and the problem", msg, path)
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("broken-file log repeats a password: %s", msg)
	}
	step("a broken file is reported once, not on every login", 2*time.Second, "alice,carl,root")
	if n := logs.FilterMessage("users file is broken; keeping the last good users").Len(); n != 1 {
		t.Errorf("broken file logged %d times, want once", n)
	}

	mtime = mtime.Add(time.Minute)
	rewriteUsersFile(t, path, "erin:"+bc+"\n", mtime)
	step("a repaired file is loaded again", 2*time.Second, "erin,root")

	mtime = mtime.Add(time.Minute)
	rewriteUsersFile(t, path, "root:"+bc+"\n", mtime)
	step("a file user clashing with an inline one keeps the last good users", 2*time.Second, "erin,root")

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	step("a deleted file keeps the last good users", 2*time.Second, "erin,root")
	if n := logs.FilterMessage("users file unreadable; keeping the last good users").Len(); n != 1 {
		t.Errorf("missing file logged %d times, want 1", n)
	}
}

func TestUserStoreErrorsAtStart(t *testing.T) {
	bc := bcryptHashForTest(t, "pw")
	missing := t.TempDir() + "/nope"
	tests := []struct {
		name   string
		file   string
		inline []User
		want   []string
	}{
		{"missing file", missing, nil, []string{missing, "no such file"}},
		{"broken file names file:line", tempFile(t, "u", "a:"+bc+"\nb:{SHA}x\n"), nil, []string{"/u:2:", "unsupported"}},
		{"inline user with a bad hash is not blamed on the file", tempFile(t, "u", "a:"+bc+"\n"), []User{{Username: "x", Password: "plain"}}, []string{`user "x"`, "unsupported"}},
		{"inline user with a reserved claim", "", []User{{Username: "x", Password: bc, Claims: map[string]any{"iss": "me"}}}, []string{`user "x"`, `claim "iss" is reserved`}},
		{"inline user without a name", "", []User{{Password: bc}}, []string{"without a username"}},
		{"inline user defined twice", "", []User{{Username: "x", Password: bc}, {Username: "x", Password: bc}}, []string{`user "x" is defined twice`}},
		{"file user also defined inline", tempFile(t, "u", "x:"+bc+"\n"), []User{{Username: "x", Password: bc}}, []string{"/u:", `user "x" is also defined inline`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newUserStore(tt.file, tt.inline, "sub", zap.NewNop())
			if err == nil {
				t.Fatal("accepted")
			}
			wantMentions(t, err, tt.want...)
			if tt.name == "inline user with a bad hash is not blamed on the file" && strings.Contains(err.Error(), "/u") {
				t.Errorf("error %q blames the users file for an inline user", err)
			}
		})
	}
}

func TestHashShapesGroupUsersByAlgorithmAndCost(t *testing.T) {
	cost4 := bcryptHashForTest(t, "pw")
	cost5, err := bcrypt.GenerateFromPassword([]byte("pw"), 5)
	if err != nil {
		t.Fatal(err)
	}
	ar := cheapArgon2idHash(t, "pw")
	// Another salt and password, same parameters.
	ar2 := "$argon2id$v=19$m=64,t=1,p=1$" + base64.RawStdEncoding.EncodeToString([]byte("another salt....")) + ar[strings.LastIndex(ar, "$"):]
	arT2 := strings.Replace(ar, "t=1", "t=2", 1)
	tests := []struct {
		name  string
		users []User
		want  []string // shape: users
	}{
		{"one bcrypt cost", []User{{Username: "a", Password: cost4}, {Username: "b", Password: bcryptHashForTest(t, "other")}},
			[]string{"bcrypt cost 4: a,b"}},
		{"$2a$, $2b$ and $2y$ are one algorithm", []User{{Username: "a", Password: cost4}, {Username: "y", Password: bcryptWithPrefix(cost4, "$2y$")}, {Username: "b", Password: bcryptWithPrefix(cost4, "$2b$")}},
			[]string{"bcrypt cost 4: a,b,y"}},
		{"bcrypt costs differ", []User{{Username: "a", Password: cost4}, {Username: "b", Password: string(cost5)}},
			[]string{"bcrypt cost 4: a", "bcrypt cost 5: b"}},
		{"argon2id salts do not matter, its parameters do", []User{{Username: "a", Password: ar}, {Username: "b", Password: ar2}, {Username: "c", Password: arT2}},
			[]string{"argon2id m=64,t=1,p=1 key 32 bytes: a,b", "argon2id m=64,t=2,p=1 key 32 bytes: c"}},
		{"in the order of their first user", []User{{Username: "z", Password: ar}, {Username: "a", Password: cost4}, {Username: "b", Password: ar}},
			[]string{"argon2id m=64,t=1,p=1 key 32 bytes: b,z", "bcrypt cost 4: a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := newUserTable(tt.users, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, sh := range tab.shapes {
				var names []string
				for _, a := range tab.accounts {
					if a.shape == sh {
						names = append(names, a.name)
					}
				}
				slices.Sort(names)
				if sh.users != len(names) || sh.rep.shape != sh {
					t.Errorf("%s: counts %d users, has %d; its first user is of %s", sh.name, sh.users, len(names), sh.rep.shape.name)
				}
				got = append(got, sh.name+": "+strings.Join(names, ","))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("shapes\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestUserStoreWarnsWhenHashesDiffer(t *testing.T) {
	cost4 := bcryptHashForTest(t, "pw")
	cost5, err := bcrypt.GenerateFromPassword([]byte("pw"), 5)
	if err != nil {
		t.Fatal(err)
	}
	ar := cheapArgon2idHash(t, "pw")
	const warning = "users' password hashes differ in algorithm or cost; hash every password again with one algorithm and cost"
	warnings := func(logs *observer.ObservedLogs) []observer.LoggedEntry {
		return logs.FilterMessage(warning).FilterLevelExact(zapcore.WarnLevel).AllUntimed()
	}

	t.Run("inline users of one cost load quietly", func(t *testing.T) {
		core, logs := observer.New(zapcore.InfoLevel)
		if _, err := newUserStore("", []User{{Username: "a", Password: cost4}, {Username: "b", Password: cost4}}, "sub", zap.New(core)); err != nil {
			t.Fatal(err)
		}
		if logs.Len() != 0 {
			t.Errorf("logged %v", logs.AllUntimed())
		}
	})

	t.Run("at load and at every reload of the users file", func(t *testing.T) {
		s, path, mtime, clock, logs := fileUserStore(t, "a:"+cost4+"\n", ar)

		got := warnings(logs)
		if len(got) != 1 {
			t.Fatalf("%d warnings at load, want 1; logged %v", len(got), logs.AllUntimed())
		}
		fields := got[0].ContextMap()
		if want := []any{"argon2id m=64,t=1,p=1 key 32 bytes (1 user)", "bcrypt cost 4 (1 user)"}; !reflect.DeepEqual(fields["hashes"], want) || fields["file"] != path {
			t.Errorf("warning fields %v, want hashes %q and file %s", fields, want, path)
		}
		why, _ := fields["why"].(string)
		for _, reason := range []string{"costliest", "sign in more slowly", "attacker"} {
			if !strings.Contains(why, reason) {
				t.Errorf("warning does not say why (%q): %s", reason, why)
			}
		}

		rewriteUsersFile(t, path, "a:"+cost4+"\nb:"+string(cost5)+"\nc:"+cost4+"\n", mtime.Add(time.Minute))
		clock.advance(2 * usersCheckInterval)
		s.current()
		got = warnings(logs)
		if len(got) != 2 {
			t.Fatalf("%d warnings after a reload, want 2", len(got))
		}
		if want := []any{"argon2id m=64,t=1,p=1 key 32 bytes (1 user)", "bcrypt cost 4 (2 users)", "bcrypt cost 5 (1 user)"}; !reflect.DeepEqual(got[1].ContextMap()["hashes"], want) {
			t.Errorf("hashes after the reload %v, want %q", got[1].ContextMap()["hashes"], want)
		}
	})
}

// login posts a JSON login and returns the status code.
func usersLoginStatus(t *testing.T, base, path, user, password string) int {
	t.Helper()
	resp, _ := loginSite{t, base + path}.json(user, password, nil)
	return resp.StatusCode
}

func TestUsersFileThroughCaddy(t *testing.T) {
	// htpasswd -B writes $2y$; Caddy and Go write $2a$.
	alice := bcryptWithPrefix(bcryptHashForTest(t, "alice-pw"), "$2y$")
	bob := bcryptHashForTest(t, "bob-pw")
	carol := cheapArgon2idHash(t, "carol-pw")
	htpasswd := tempFile(t, "htpasswd", "# test users\nalice:"+alice+"\n")
	jsonUsers := tempFile(t, "users.json", `[
		{"username": "carol", "password": "`+carol+`", "claims": {"role": "admin"}},
		{"username": "dave", "password": "`+bob+`", "disabled": true}
	]`)
	start := time.Now().Add(-time.Hour)
	if err := os.Chtimes(htpasswd, start, start); err != nil {
		t.Fatal(err)
	}
	base := startCaddy(t, `
	jwt {
		backend files {
			secret `+testSecret+`
			users `+htpasswd+`
		}
		backend json {
			secret `+testSecret+`
			users `+jsonUsers+`
		}
	}`, `
	jwt_login /login files
	jwt_login /login-json json
	jwt_auth /me json
	respond /me "{http.auth.user.id} {http.auth.user.role}"`)

	if got := usersLoginStatus(t, base, "/login", "alice", "alice-pw"); got != 200 {
		t.Fatalf("alice ($2y$ hash from the htpasswd file): %d, want 200", got)
	}
	if got := usersLoginStatus(t, base, "/login", "bob", "bob-pw"); got != 400 {
		t.Fatalf("bob before the reload: %d, want 400", got)
	}

	rewriteUsersFile(t, htpasswd, "alice:"+alice+"\nbob:"+bob+"\n", start.Add(time.Minute))
	// The file is stat'ed at most every usersCheckInterval: move the
	// store's clock past that instead of waiting.
	store := runningJWTApp(t).Backends["files"].users
	store.mu.Lock()
	store.now = func() time.Time { return time.Now().Add(usersCheckInterval) }
	store.mu.Unlock()
	if got := usersLoginStatus(t, base, "/login", "bob", "bob-pw"); got != 200 {
		t.Fatalf("bob after the users file changed: %d, want 200", got)
	}
	if got := usersLoginStatus(t, base, "/login", "alice", "alice-pw"); got != 200 {
		t.Fatalf("alice after the reload: %d, want 200", got)
	}

	// carol: an argon2id hash in the JSON users file.
	token := loginSite{t, base + "/login-json"}.token("carol", "carol-pw")
	resp, body := sendAuth(t, "GET", base+"/me", bearer(token))
	if resp.StatusCode != 200 || body != "carol admin" {
		t.Fatalf("carol's token: %d %q, want the claim from the JSON users file", resp.StatusCode, body)
	}
	if got := usersLoginStatus(t, base, "/login-json", "dave", "bob-pw"); got != 400 {
		t.Fatalf("disabled dave with the right password: %d, want 400", got)
	}
}

// FuzzParseUsers feeds parseUsers arbitrary files. It must never panic, and
// whatever it accepts must be usable: named users, supported hashes that
// can be checked without crashing, no reserved claims, no duplicates.
func FuzzParseUsers(f *testing.F) {
	bc := bcryptHashForTest(f, "pw")
	ar := cheapArgon2idHash(f, "pw")
	f.Add([]byte("alice:" + bc + "\n# comment\n\nbob:" + ar + "\n"))
	f.Add([]byte(`[{"username":"alice","password":"` + bc + `","claims":{"role":"x"},"disabled":true}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := parseUsers("users", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "users:") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, u := range users {
			if u.Username == "" {
				t.Fatalf("accepted a user without a name: %#v", u)
			}
			if seen[u.Username] {
				t.Fatalf("accepted %q twice", u.Username)
			}
			seen[u.Username] = true
			cmp, err := comparerFor(u.Password)
			if err != nil {
				t.Fatalf("accepted user %q with an unusable hash: %v", u.Username, err)
			}
			if err := checkUserClaims(u.Claims); err != nil {
				t.Fatalf("accepted user %q: %v", u.Username, err)
			}
			if cheapToCompare(u.Password) {
				// The first login must not crash either.
				if _, err := cmp.Compare([]byte(u.Password), []byte("pw")); err != nil && strings.HasPrefix(u.Password, "$argon2id$") {
					t.Fatalf("argon2id hash of %q fails to compare: %v", u.Username, err)
				}
			}
		}
		if _, err := newUserTable(nil, "users", users); err != nil {
			t.Fatalf("parseUsers accepted what newUserTable refuses: %v", err)
		}
	})
}

// cheapToCompare says whether checking a password against hash is quick enough
// to do on every fuzz input.
func cheapToCompare(hash string) bool {
	if cost, err := bcrypt.Cost([]byte(hash)); err == nil {
		return cost <= 5
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 {
		return false
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return false
	}
	m, err1 := strconv.ParseUint(strings.TrimPrefix(params[0], "m="), 10, 32)
	tm, err2 := strconv.ParseUint(strings.TrimPrefix(params[1], "t="), 10, 32)
	return err1 == nil && err2 == nil && m*tm <= 4096
}

// TestBcrypt72ByteLimitDocumented: bcrypt uses only a password's first 72
// bytes, at login as in the hash; the users section says so, and what
// `caddy hash-password` does about it.
func TestBcrypt72ByteLimitDocumented(t *testing.T) {
	long := strings.Repeat("correct horse battery staple ", 3)[:72]
	// What a tool that cuts passwords short stores for a longer one.
	hash, err := bcrypt.GenerateFromPassword([]byte(long), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	site := loginSite{t, startCaddy(t, loginGlobals("\t\t\tuser alice "+string(hash)), "jwt_login /login") + "/login"}
	site.tokenOf(site.json("alice", long+" and more", nil))
	if resp, body := site.json("alice", long[:71], nil); resp.StatusCode != 400 {
		t.Fatalf("71 of the 72 bytes: status %d, want 400: %s", resp.StatusCode, body)
	}
	if _, err := bcrypt.GenerateFromPassword([]byte(long+"x"), bcrypt.MinCost); err == nil {
		t.Fatal("bcrypt made a hash of a 73-byte password; the README says caddy hash-password refuses one")
	}
	users := docSection(t, "docs/jwt.md", "## `users <file>`")
	for _, want := range []string{"first 72 bytes", "`caddy hash-password` refuses", "argon2id, which uses every byte"} {
		if !strings.Contains(strings.Join(strings.Fields(users), " "), want) {
			t.Errorf("the users section does not say %q", want)
		}
	}
}
