package credcache_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/awscreds"
	"github.com/elevate-gitops/elevate/internal/credcache"
)

var now = time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)

func newCache(t testing.TB) *credcache.Cache {
	t.Helper()
	return &credcache.Cache{
		Dir: filepath.Join(t.TempDir(), "elevate", "credentials"),
		Now: func() time.Time { return now },
	}
}

func testKey() credcache.Key {
	return credcache.Key{
		Broker:   "https://broker.example.com",
		UserHint: "3f2a9c1d8e7b6a50",
		Account:  "prod",
		Role:     "Admin",
	}
}

func testEntry(left time.Duration) credcache.Entry {
	return credcache.Entry{
		Credentials: awscreds.Credentials{
			AccessKeyID:     "ASIAEXAMPLE",
			SecretAccessKey: "secret/key+value",
			SessionToken:    "session-token",
			Expiration:      now.Add(left),
		},
		Request:   "req-42",
		WindowEnd: now.Add(2 * time.Hour),
	}
}

// path is where the cache keeps k: the hex SHA-256 of k's canonical JSON.
func path(t testing.TB, c *credcache.Cache, k credcache.Key) string {
	t.Helper()
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return filepath.Join(c.Dir, hex.EncodeToString(sum[:]))
}

func skipWithoutModes(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("file modes and owners are not enforced on " + runtime.GOOS)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	k := testKey()
	want := testEntry(time.Hour)
	if _, ok := c.Get(k); ok {
		t.Fatal("Get before Put: hit, want miss")
	}
	if err := c.Put(k, want); err != nil {
		t.Fatalf("Put: %v", err)
	}
	got, ok := c.Get(k)
	if !ok {
		t.Fatal("Get after Put: miss, want hit")
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("Get after Put (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(path(t, c, k)); err != nil {
		t.Errorf("entry is not at the hex SHA-256 of the key's JSON: %v", err)
	}

	// Entries of another user, request or broker are other files.
	for _, other := range []credcache.Key{
		{Broker: k.Broker, UserHint: "0000000000000000", Account: k.Account, Role: k.Role},
		{Broker: k.Broker, UserHint: k.UserHint, Account: k.Account, Role: "ReadOnly"},
		{Broker: "https://other.example.com", UserHint: k.UserHint, Account: k.Account, Role: k.Role},
		{Broker: k.Broker, UserHint: k.UserHint, Request: "req-42"},
	} {
		if _, ok := c.Get(other); ok {
			t.Errorf("Get(%+v): hit on another key's entry", other)
		}
	}
}

func TestGetIsAMissWithinMargin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		margin    time.Duration
		left      time.Duration
		windowEnd time.Duration // from now; 0 means unknown
		wantHit   bool
	}{
		{name: "an hour left", left: time.Hour, wantHit: true},
		{name: "5m1s left", left: 5*time.Minute + time.Second, wantHit: true},
		{name: "exactly 5m left", left: 5 * time.Minute},
		{name: "4m59s left", left: 4*time.Minute + 59*time.Second},
		{name: "expired", left: -time.Second},
		{name: "custom margin, inside", margin: time.Minute, left: 59 * time.Second},
		{name: "custom margin, outside", margin: time.Minute, left: 61 * time.Second, wantHit: true},
		{name: "negative margin means default", margin: -time.Hour, left: 4 * time.Minute},
		{name: "window ended", left: time.Hour, windowEnd: -time.Second},
		{name: "window ends now", left: time.Hour, windowEnd: -1},
		{name: "window open", left: time.Hour, windowEnd: time.Second, wantHit: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			c.Margin = tt.margin
			e := testEntry(tt.left)
			switch {
			case tt.windowEnd == -1:
				e.WindowEnd = now
			case tt.windowEnd != 0:
				e.WindowEnd = now.Add(tt.windowEnd)
			default:
				e.WindowEnd = time.Time{}
			}
			if err := c.Put(testKey(), e); err != nil {
				t.Fatalf("Put: %v", err)
			}
			got, ok := c.Get(testKey())
			if ok != tt.wantHit {
				t.Fatalf("Get hit = %v, want %v", ok, tt.wantHit)
			}
			if !ok && got != nil {
				t.Errorf("Get returned %v with a miss", got)
			}
		})
	}
}

func TestFileAndDirectoryModes(t *testing.T) {
	t.Parallel()
	skipWithoutModes(t)
	c := newCache(t)
	k := testKey()
	if err := c.Put(k, testEntry(time.Hour)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	fi, err := os.Stat(path(t, c, k))
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("file mode = %#o, want 0600", m)
	}
	di, err := os.Stat(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := di.Mode().Perm(); m != 0o700 {
		t.Errorf("directory mode = %#o, want 0700", m)
	}
	if ents, _ := os.ReadDir(c.Dir); len(ents) != 1 {
		t.Errorf("directory holds %d files, want 1 (temporary files left behind?)", len(ents))
	}
}

func TestPutTightensLooseDirectory(t *testing.T) {
	t.Parallel()
	skipWithoutModes(t)
	c := newCache(t)
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(c.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(testKey(), testEntry(time.Hour)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	di, err := os.Stat(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := di.Mode().Perm(); m != 0o700 {
		t.Errorf("directory mode = %#o, want 0700", m)
	}
}

func TestPutRefusesSymlinkedDirectory(t *testing.T) {
	t.Parallel()
	skipWithoutModes(t)
	root := t.TempDir()
	target := filepath.Join(root, "elsewhere")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "credentials")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	c := &credcache.Cache{Dir: link, Now: func() time.Time { return now }}
	err := c.Put(testKey(), testEntry(time.Hour))
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("Put into a symlinked directory: err = %v, want a symlink error", err)
	}
	if ents, _ := os.ReadDir(target); len(ents) != 0 {
		t.Errorf("Put wrote %d files through the symlink", len(ents))
	}
}

func TestGetIgnoresSymlinkedFile(t *testing.T) {
	t.Parallel()
	skipWithoutModes(t)
	c := newCache(t)
	k := testKey()
	other := k
	other.Role = "Other"
	if err := c.Put(other, testEntry(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path(t, c, other), path(t, c, k)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(k); ok {
		t.Error("Get followed a symlink: hit, want miss")
	}
}

func TestCorruptedFileIsAMissAndPutRepairs(t *testing.T) {
	t.Parallel()
	good, err := json.Marshal(map[string]any{"version": 1})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content func(valid []byte) []byte
	}{
		{name: "empty", content: func([]byte) []byte { return nil }},
		{name: "garbage", content: func([]byte) []byte { return []byte("\x00\xffnot json") }},
		{name: "truncated", content: func(v []byte) []byte { return v[:len(v)/2] }},
		{name: "trailing garbage", content: func(v []byte) []byte { return append(v, "}}"...) }},
		{name: "no credentials", content: func([]byte) []byte { return good }},
		{name: "other version", content: func(v []byte) []byte {
			return []byte(strings.Replace(string(v), `"version":1`, `"version":2`, 1))
		}},
		{name: "other key inside", content: func(v []byte) []byte {
			return []byte(strings.Replace(string(v), `"role":"Admin"`, `"role":"Other"`, 1))
		}},
		{name: "no secret", content: func(v []byte) []byte {
			return []byte(strings.Replace(string(v), `"secret_access_key":"secret/key+value"`, `"secret_access_key":""`, 1))
		}},
		{name: "too large", content: func(v []byte) []byte {
			return append(v, strings.Repeat(" ", 70<<10)...)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			k := testKey()
			want := testEntry(time.Hour)
			if err := c.Put(k, want); err != nil {
				t.Fatal(err)
			}
			p := path(t, c, k)
			valid, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tt.content(valid), 0o600); err != nil {
				t.Fatal(err)
			}
			if got, ok := c.Get(k); ok {
				t.Fatalf("Get of a corrupted file: hit %v, want miss", got)
			}
			if err := c.Put(k, want); err != nil {
				t.Fatalf("Put over a corrupted file: %v", err)
			}
			got, ok := c.Get(k)
			if !ok {
				t.Fatal("Get after the repairing Put: miss, want hit")
			}
			if diff := cmp.Diff(want, *got); diff != "" {
				t.Errorf("Get after the repairing Put (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGetIgnoresFilesOthersCanAccess(t *testing.T) {
	t.Parallel()
	skipWithoutModes(t)
	for _, mode := range []os.FileMode{0o620, 0o640, 0o604, 0o602, 0o666} {
		t.Run(fmt.Sprintf("%#o", mode), func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			k := testKey()
			if err := c.Put(k, testEntry(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path(t, c, k), mode); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Get(k); ok {
				t.Errorf("Get of a %#o file: hit, want miss", mode)
			}
			if err := c.Put(k, testEntry(time.Hour)); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if _, ok := c.Get(k); !ok {
				t.Error("Get after Put rewrote the file: miss, want hit")
			}
		})
	}
}

func TestConcurrentGetPutNeverSeesAPartialFile(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	k := testKey()
	const workers = 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*20)
	for i := range workers {
		wg.Go(func() {
			for j := range 10 {
				id := fmt.Sprintf("%02d%02d", i, j)
				e := testEntry(time.Hour)
				e.Credentials.AccessKeyID = "ASIA" + id
				e.Credentials.SecretAccessKey = "secret-" + id + strings.Repeat("x", 512)
				e.Credentials.SessionToken = "token-" + id + strings.Repeat("y", 1024)
				e.Request = "req-" + id
				if err := c.Put(k, e); err != nil {
					errs <- fmt.Errorf("Put: %w", err)
					return
				}
				got, ok := c.Get(k)
				if !ok {
					// Every Put left a whole file: once one has finished,
					// there is always an entry to read.
					errs <- fmt.Errorf("Get after Put %s: miss", id)
					continue
				}
				gid := strings.TrimPrefix(got.Credentials.AccessKeyID, "ASIA")
				want := testEntry(time.Hour)
				want.Credentials.AccessKeyID = "ASIA" + gid
				want.Credentials.SecretAccessKey = "secret-" + gid + strings.Repeat("x", 512)
				want.Credentials.SessionToken = "token-" + gid + strings.Repeat("y", 1024)
				want.Request = "req-" + gid
				if diff := cmp.Diff(want, *got); diff != "" {
					errs <- fmt.Errorf("Get returned a mixed or partial entry (-want +got):\n%s", diff)
				}
			}
		})
	}
	for range workers {
		wg.Go(func() {
			for range 10 {
				if got, ok := c.Get(k); ok && !strings.HasPrefix(got.Credentials.SecretAccessKey, "secret-"+strings.TrimPrefix(got.Credentials.AccessKeyID, "ASIA")) {
					errs <- fmt.Errorf("Get returned a mixed entry: %v", got)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ents, _ := os.ReadDir(c.Dir); len(ents) != 1 {
		t.Errorf("directory holds %d files after the race, want 1", len(ents))
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	c := newCache(t)
	k := testKey()
	if err := c.Delete(k); err != nil {
		t.Errorf("Delete of an absent entry: %v", err)
	}
	if err := c.Put(k, testEntry(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(k); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok := c.Get(k); ok {
		t.Error("Get after Delete: hit, want miss")
	}
}

func TestPutRejectsIncompleteInput(t *testing.T) {
	t.Parallel()
	full := testEntry(time.Hour)
	tests := []struct {
		name string
		key  credcache.Key
		e    credcache.Entry
	}{
		{name: "no broker", key: credcache.Key{UserHint: "u", Request: "r"}, e: full},
		{name: "no user hint", key: credcache.Key{Broker: "b", Request: "r"}, e: full},
		{name: "no request or role", key: credcache.Key{Broker: "b", UserHint: "u", Account: "a"}, e: full},
		{name: "no access key", key: testKey(), e: credcache.Entry{Credentials: awscreds.Credentials{SecretAccessKey: "s", Expiration: now.Add(time.Hour)}}},
		{name: "no expiration", key: testKey(), e: credcache.Entry{Credentials: awscreds.Credentials{AccessKeyID: "a", SecretAccessKey: "s"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCache(t)
			err := c.Put(tt.key, tt.e)
			if err == nil {
				t.Fatal("Put: nil error")
			}
			if strings.Contains(err.Error(), full.Credentials.SecretAccessKey) {
				t.Errorf("error %q carries the secret", err)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("os.UserCacheDir follows XDG_CACHE_HOME only on Linux and BSDs")
	}
	base := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", base)
	c, err := credcache.Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	want := filepath.Join(base, "elevate", "credentials")
	if c.Dir != want {
		t.Errorf("Dir = %q, want %q", c.Dir, want)
	}
	fi, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); !fi.IsDir() || m != 0o700 {
		t.Errorf("cache directory mode = %v, want a 0700 directory", fi.Mode())
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := newCache(b)
	k := testKey()
	if err := c.Put(k, testEntry(time.Hour)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get(k); !ok {
			b.Fatal("miss")
		}
	}
}

// A grant the broker said is over is dropped under every key it was cached
// under (its id, a suffix of it, its account and role); others stay.
func TestDropRequest(t *testing.T) {
	c := newCache(t)
	byRole, byID, bySuffix, other := testKey(), testKey(), testKey(), testKey()
	byID.Account, byID.Role, byID.Request = "", "", "prod/2030-01/alice-admin-inc1"
	bySuffix.Account, bySuffix.Role, bySuffix.Request = "", "", "alice-admin-inc1"
	other.Role = "ReadOnly"
	for _, k := range []credcache.Key{byRole, byID, bySuffix} {
		e := testEntry(time.Hour)
		e.Request = "prod/2030-01/alice-admin-inc1"
		if err := c.Put(k, e); err != nil {
			t.Fatal(err)
		}
	}
	e := testEntry(time.Hour)
	e.Request = "prod/2030-01/alice-readonly-inc2"
	if err := c.Put(other, e); err != nil {
		t.Fatal(err)
	}
	// A person types the suffix; the broker's answer names the full id.
	// In this order: a map's would be random, and the second finds nothing.
	for _, drop := range []struct {
		id   string
		want int
	}{{"alice-admin-inc1", 3}, {"prod/2030-01/alice-admin-inc1", 0}} {
		if n, err := c.DropRequest(drop.id); n != drop.want || err != nil {
			t.Fatalf("DropRequest(%q) = %d, %v; want %d", drop.id, n, err, drop.want)
		}
	}
	for _, k := range []credcache.Key{byRole, byID, bySuffix} {
		if _, ok := c.Get(k); ok {
			t.Errorf("%+v is still served after its grant was dropped", k)
		}
	}
	if _, ok := c.Get(other); !ok {
		t.Error("another grant's entry was dropped")
	}
	if n, err := (&credcache.Cache{Dir: filepath.Join(t.TempDir(), "absent")}).DropRequest("x"); n != 0 || err != nil {
		t.Errorf("absent directory: %d, %v", n, err)
	}
}
