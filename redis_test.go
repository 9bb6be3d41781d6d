package caddyjwt

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// This file runs a real redis-server for the tests of the Redis store: on a
// free loopback port, with its files in the test's temp dir and nothing
// saved, stopped when the test ends. A test can kill it (SIGKILL, as a
// crash) and start it again, empty, on the same port.
//
// Without redis-server the Redis tests are skipped, except in CI (CI=true),
// where .ci/run installs it and a missing Redis must fail the run.

// redisServer is one redis-server process of a test.
type redisServer struct {
	t    testing.TB
	bin  string
	port string
	dir  string
	// args are more redis-server options; password is --requirepass's.
	args     []string
	password string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *lockedBuffer
}

// redisBinary finds redis-server, or skips the test (fails it in CI).
func redisBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/redis-server"); err == nil {
		return "/usr/sbin/redis-server"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("redis-server is not installed; in CI it must be (.ci/run installs the Debian package redis-server)")
	}
	t.Skip("redis-server is not installed (apt-get install redis-server); skipping the Redis tests")
	return ""
}

// redisPort finds a free loopback port for Redis below the range the
// kernel takes ephemeral ports from: Redis may be started late, or killed
// and started again on the same port, and meanwhile no outgoing connection
// or bind to port 0 (freePort) can take a port outside that range.
func redisPort(t testing.TB) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const first = 10000
	if low <= first+1000 {
		return freePort(t)
	}
	for range 100 {
		port := strconv.Itoa(first + rand.IntN(low-first))
		if l, err := net.Listen("tcp", "127.0.0.1:"+port); err == nil {
			l.Close()
			return port
		}
	}
	return freePort(t)
}

// newRedis prepares a Redis on a free loopback port without starting it,
// for a test that starts Caddy before Redis. It is stopped when the test
// ends.
func newRedis(t testing.TB) *redisServer {
	t.Helper()
	r := &redisServer{t: t, bin: redisBinary(t), port: redisPort(t), dir: t.TempDir()}
	t.Cleanup(r.kill)
	return r
}

// startRedis runs a Redis on a free loopback port, with more
// redis-server options, and waits until it answers PING. It is stopped
// when the test ends.
func startRedis(t testing.TB, args ...string) *redisServer {
	t.Helper()
	r := newRedis(t)
	r.args = args
	for i, a := range args {
		if a == "--requirepass" && i+1 < len(args) {
			r.password = args[i+1]
		}
	}
	for attempt := 1; ; attempt++ {
		err := r.tryStart()
		if err == nil {
			return r
		}
		// Another process may have taken the port since freePort.
		if attempt < portAttempts && strings.Contains(err.Error(), "in use") {
			r.port = redisPort(t)
			continue
		}
		t.Fatal(err)
	}
}

// start (re)starts Redis on its port, empty, and waits until it answers.
func (r *redisServer) start() {
	r.t.Helper()
	if err := r.tryStart(); err != nil {
		r.t.Fatal(err)
	}
}

func (r *redisServer) tryStart() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return errors.New("redis-server is running already")
	}
	log := &lockedBuffer{}
	args := append([]string{"--port", r.port, "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"}, r.args...)
	cmd := exec.Command(r.bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	c := redis.NewClient(&redis.Options{Addr: r.addr(), Password: r.password, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			break
		}
		select {
		case <-exited:
			return errors.New("redis-server exited at start: " + log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return errors.New("redis-server does not answer PING: " + log.String())
		}
	}
	r.cmd, r.exited, r.log = cmd, exited, log
	return nil
}

// kill stops Redis with SIGKILL, as a crash would, and waits until it is
// gone; it does nothing when Redis is not running.
func (r *redisServer) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
	r.cmd = nil
}

// pause stops Redis (SIGSTOP) without closing its connections: a Redis
// that hangs. resume lets it go on.
func (r *redisServer) pause()  { r.signal(syscall.SIGSTOP) }
func (r *redisServer) resume() { r.signal(syscall.SIGCONT) }

func (r *redisServer) signal(sig syscall.Signal) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		r.t.Fatal("redis-server is not running")
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatal(err)
	}
}

func (r *redisServer) addr() string { return "127.0.0.1:" + r.port }

// url is the store URL of this Redis.
func (r *redisServer) url() string { return "redis://" + r.addr() }

// client is a client of this Redis for the test's own checks, closed when
// the test ends.
func (r *redisServer) client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.addr(), Password: r.password, DialTimeout: time.Second})
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// eventually polls cond every 20 ms until it holds, and fails the test
// when it does not within d. It returns how long it took.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisHarness proves the harness: Redis answers once started, is
// gone once killed, and comes back empty on the same port.
func TestRedisHarness(t *testing.T) {
	r := startRedis(t)
	c := r.client()
	ctx := context.Background()
	if err := c.Set(ctx, "caddy-jwt:harness", "x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	r.kill()
	probe := redis.NewClient(&redis.Options{Addr: r.addr(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer probe.Close()
	if err := probe.Ping(ctx).Err(); err == nil {
		t.Fatal("Redis answers PING after it was killed")
	}
	r.start()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis restarted on %s does not answer: %v", r.addr(), err)
	}
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("a restarted Redis has %d keys (%v), want none", n, err)
	}
}
