package caddyjwt

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestWrongPasswordTakesAsLongForUnknownAndKnownUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("times hundreds of logins")
	}
	if raceDetector {
		// Hundreds of argon2id and bcrypt checks take minutes under it;
		// .ci/run runs this test without it.
		t.Skip("timing is measured without the race detector")
	}
	// Three users whose hashes differ in algorithm and cost. The cheapest
	// is first: an unknown name used to be checked against the first
	// user's hash.
	cost4, err := bcrypt.GenerateFromPassword([]byte("cheap-pw"), 4)
	if err != nil {
		t.Fatal(err)
	}
	cost10, err := bcrypt.GenerateFromPassword([]byte("dear-pw"), 10)
	if err != nil {
		t.Fatal(err)
	}
	users := tempFile(t, "users", "cheap:"+string(cost4)+"\ndear:"+string(cost10)+"\nargon:"+argon2idHashWith("argon-pw", 47104, 1)+"\n")
	// hash_cpu off and rate_limit off, so that only the checks' time is
	// measured.
	base := startCaddy(t, `
	jwt {
		hash_cpu off
		backend api {
			secret `+testSecret+`
			users `+users+`
		}
	}`, `
	jwt_login /login {
		rate_limit off
	}`)
	url := base + "/login"

	groups := []string{"", "cheap", "dear", "argon"} // "": a new unknown name each time
	for attempt := 1; ; attempt++ {
		medians, err := loginMedians(url, groups, 100)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("attempt %d: median time of a wrong password: %s", attempt, medianReport(groups, medians))
		bad := ""
		for i, g := range groups[1:] {
			if ratio := max(medians[i+1], medians[0]).Seconds() / min(medians[i+1], medians[0]).Seconds(); ratio > 1.5 {
				bad += fmt.Sprintf("; %s takes %s, unknown names %s (%.2f times)", g, medians[i+1], medians[0], ratio)
			}
		}
		if bad == "" {
			return
		}
		// A noisy neighbour can skew one measurement; two in a row are
		// the code's doing.
		if attempt == 2 {
			t.Fatalf("response time tells users from unknown names%s", bad)
		}
	}
}

// loginMedians sends n logins with a wrong password for each group's
// username ("" for a new unknown name each time), in rounds that take
// every group once in a random order, so that the load of the machine
// weighs on all groups alike. As many logins run at once as there are
// hash slots, which keeps the CPUs busy while logins wait out their
// padding. It returns each group's median response time.
func loginMedians(url string, groups []string, n int) ([]time.Duration, error) {
	workers := 2 * runtime.GOMAXPROCS(0)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer c.CloseIdleConnections()
	type job struct{ group, round int }
	jobs := make(chan job)
	times := make([][]time.Duration, len(groups))
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				name := groups[j.group]
				if name == "" {
					name = fmt.Sprintf("nobody%d", j.round+10)
				}
				took, err := timeWrongPassword(c, url, name)
				mu.Lock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
					}
				case j.round >= 0: // the rounds before warm up
					times[j.group] = append(times[j.group], took)
				}
				mu.Unlock()
			}
		}()
	}
	for round := -2; round < n; round++ {
		for _, g := range rand.Perm(len(groups)) {
			jobs <- job{g, round}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	medians := make([]time.Duration, len(groups))
	for i, ts := range times {
		slices.Sort(ts)
		medians[i] = ts[len(ts)/2]
	}
	return medians, nil
}

// timeWrongPassword logs name in with a wrong password and tells how long
// the answer, which must be a 400, took.
func timeWrongPassword(c *http.Client, url, name string) (time.Duration, error) {
	start := time.Now()
	resp, err := c.Post(url, formType, strings.NewReader("username="+name+"&password=wrong"))
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusBadRequest {
		return 0, fmt.Errorf("login as %s: status %d, want 400", name, resp.StatusCode)
	}
	return took, nil
}

// medianReport lists each group's median.
func medianReport(groups []string, medians []time.Duration) string {
	var b strings.Builder
	for i, g := range groups {
		if g == "" {
			g = "unknown names"
		}
		fmt.Fprintf(&b, "%s %s, ", g, medians[i].Round(100*time.Microsecond))
	}
	return strings.TrimSuffix(b.String(), ", ")
}

func TestCheckTimeLearnsTheMeanAndABoundAboveNearlyAllChecks(t *testing.T) {
	var c checkTime
	if c.timed() || c.mean() != 0 || c.bound() != 0 {
		t.Fatalf("before any check: timed %v, mean %s, bound %s", c.timed(), c.mean(), c.bound())
	}
	c.observe(10 * time.Millisecond)
	if !c.timed() || c.mean() != 10*time.Millisecond || c.bound() <= c.mean() {
		t.Fatalf("after one check of 10ms: mean %s, bound %s; want 10ms and more", c.mean(), c.bound())
	}
	// Steady checks: the bound closes in on them.
	for range 50 {
		c.observe(10 * time.Millisecond)
	}
	if m, b := c.mean(), c.bound(); m != 10*time.Millisecond || b > 10*time.Millisecond+100*time.Microsecond {
		t.Errorf("after steady checks of 10ms: mean %s, bound %s; want both about 10ms", m, b)
	}
	// Checks that vary, as under load: the mean follows them and the bound
	// stays above all but a few.
	rng := rand.New(rand.NewPCG(1, 2))
	var above int
	for i := range 1000 {
		d := 20*time.Millisecond + time.Duration(rng.NormFloat64()*float64(2*time.Millisecond))
		if i >= 100 && d > c.bound() {
			above++
		}
		c.observe(d)
	}
	if m := c.mean(); m < 19*time.Millisecond || m > 21*time.Millisecond {
		t.Errorf("checks of 20±2ms: mean %s", m)
	}
	if above > 900/10 {
		t.Errorf("%d of 900 checks of 20±2ms took longer than the bound, want at most 1 in 10", above)
	}
}

// timedTable is a table of users with their own check times, not the
// process's.
func timedTable(t *testing.T, users ...User) *userTable {
	t.Helper()
	tab, err := newUserTable(users, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	times := &checkTimes{}
	for _, sh := range tab.shapes {
		sh.time = times.of(sh.name)
	}
	return tab
}

func TestUnknownNamesAreCheckedAgainstTheCostliestHash(t *testing.T) {
	cost5, err := bcrypt.GenerateFromPassword([]byte("pw"), 5)
	if err != nil {
		t.Fatal(err)
	}
	tab := timedTable(t,
		User{Username: "cheap", Password: bcryptHashForTest(t, "pw")},
		User{Username: "cheap2", Password: bcryptHashForTest(t, "pw")},
		User{Username: "argon", Password: cheapArgon2idHash(t, "pw")},
		User{Username: "dear", Password: string(cost5)},
	)
	decoy := func() string { return tab.decoy().name }
	timeOf := func(name string) *checkTime { return tab.accounts[name].shape.time }

	// Every shape is timed before any is chosen for its cost.
	for _, want := range []string{"cheap", "argon", "dear"} {
		if got := decoy(); got != want {
			t.Fatalf("decoy %s, want %s, whose hashes are not timed yet", got, want)
		}
		timeOf(want).observe(map[string]time.Duration{"cheap": time.Millisecond, "argon": 30 * time.Millisecond, "dear": 20 * time.Millisecond}[want])
	}
	for range 20 {
		timeOf("argon").observe(30 * time.Millisecond)
		timeOf("dear").observe(20 * time.Millisecond)
	}
	if got := decoy(); got != "argon" {
		t.Errorf("decoy %s, want argon, the costliest", got)
	}
	mean, bound := tab.costliest()
	if mean != timeOf("argon").mean() || bound != timeOf("argon").bound() {
		t.Errorf("table's check times %s and %s, want argon's %s and %s", mean, bound, timeOf("argon").mean(), timeOf("argon").bound())
	}
	// When checks of another shape grow slower, it becomes the decoy.
	for range 40 {
		timeOf("dear").observe(50 * time.Millisecond)
	}
	if got := decoy(); got != "dear" {
		t.Errorf("decoy %s after dear's checks grew slower, want dear", got)
	}

	if empty := timedTable(t); empty.decoy() != nil {
		t.Errorf("a table without users has a decoy")
	}
}

func TestEvenOutWaitsForTheCostliestCheck(t *testing.T) {
	tab := timedTable(t,
		User{Username: "cheap", Password: bcryptHashForTest(t, "pw")},
		User{Username: "argon", Password: cheapArgon2idHash(t, "pw")},
	)
	b := &Backend{users: &userStore{}}
	b.users.table.Store(tab)
	if b.checkCost() != 0 {
		t.Errorf("check cost %s before any check, want 0", b.checkCost())
	}
	if _, bound := tab.costliest(); bound != 0 {
		t.Errorf("bound %s before any check, want 0", bound)
	}
	start := time.Now()
	b.evenOut(context.Background(), start)
	if waited := time.Since(start); waited > lateSlack {
		t.Errorf("waited %s before any check was timed", waited)
	}

	for range 30 {
		tab.accounts["argon"].shape.time.observe(80 * time.Millisecond)
		tab.accounts["cheap"].shape.time.observe(time.Millisecond)
	}
	if got := b.checkCost(); got != 80*time.Millisecond {
		t.Errorf("check cost %s, want argon's 80ms", got)
	}
	start = time.Now().Add(-30 * time.Millisecond) // a check took 30ms
	b.evenOut(context.Background(), start)
	if waited := time.Since(start); waited < 80*time.Millisecond {
		t.Errorf("answered %s after the check started, want no sooner than argon's 80ms", waited)
	}

	// A client that is gone is not waited for, even when evening out
	// would take an hour.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	b.evenOut(ctx, start.Add(time.Hour))
	if waited := time.Since(start); waited > lateSlack {
		t.Errorf("waited %s for a client that went away", waited)
	}
}

// TestShapesAreTimedAtLoad: every shape of a mixed table is timed once,
// without waiting for a login to come up with it.
func TestShapesAreTimedAtLoad(t *testing.T) {
	table, err := newUserTable([]User{
		{Username: "cheap", Password: bcryptHashForTest(t, "pw")},
		{Username: "argon", Password: argon2idHashForTest(t, "pw")},
	}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	times := &checkTimes{}
	for _, s := range table.shapes {
		s.time = times.of(s.name)
	}
	table.timeShapes()
	for _, s := range table.shapes {
		if !s.time.timed() {
			t.Errorf("shape %s not timed", s.name)
		}
	}
}
