package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUserCacheIsBounded(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	key := func(i int) [sha256.Size]byte { return sha256.Sum256([]byte{byte(i)}) }
	id := func(i int) checked {
		return checked{id: Identity{UserID: int64(i + 1), Login: "u", Via: ViaGitHubToken}}
	}

	t.Run("oldest evicted when full", func(t *testing.T) {
		t.Parallel()
		c := newUserCache(3)
		for i := range 5 {
			c.put(key(i), id(i), now.Add(time.Duration(i)*time.Second), time.Minute)
		}
		if got := c.len(); got != 3 {
			t.Errorf("len = %d, want 3", got)
		}
		at := now.Add(5 * time.Second)
		for i, want := range []bool{false, false, true, true, true} {
			if _, ok := c.get(key(i), at); ok != want {
				t.Errorf("entry %d cached = %v, want %v", i, ok, want)
			}
		}
	})
	t.Run("expired evicted before live ones", func(t *testing.T) {
		t.Parallel()
		c := newUserCache(3)
		c.put(key(0), id(0), now, time.Minute)
		c.put(key(1), id(1), now, 10*time.Second)
		c.put(key(2), id(2), now, time.Minute)
		c.put(key(3), id(3), now.Add(30*time.Second), time.Minute)
		at := now.Add(31 * time.Second)
		for i, want := range []bool{true, false, true, true} {
			if _, ok := c.get(key(i), at); ok != want {
				t.Errorf("entry %d cached = %v, want %v", i, ok, want)
			}
		}
	})
	t.Run("refreshing a present key evicts nothing", func(t *testing.T) {
		t.Parallel()
		c := newUserCache(2)
		c.put(key(0), id(0), now, time.Minute)
		c.put(key(1), id(1), now, time.Minute)
		c.put(key(1), id(1), now, time.Minute)
		if got := c.len(); got != 2 {
			t.Errorf("len = %d, want 2", got)
		}
	})
}

func TestUserCacheHoldsNoRawToken(t *testing.T) {
	t.Parallel()
	// The cache is keyed by a hash by type; this pins that the key is the
	// SHA-256 of the token and nothing else is stored.
	c := newUserCache(1)
	tok := "ghp_secretsecretsecretsecretsecretsecret1"
	c.put(sha256.Sum256([]byte(tok)), checked{id: Identity{UserID: 1, Login: "a", Via: ViaGitHubToken}}, time.Now(), time.Minute)
	for k, e := range c.entries {
		if strings.Contains(string(k[:]), tok) || strings.Contains(e.id.Login, tok) || strings.Contains(e.reason, tok) {
			t.Errorf("cache holds the raw token")
		}
	}
}

func TestRedactScrubsUpstreamTextQuotingTheToken(t *testing.T) {
	t.Parallel()
	tok := "ghp_secretsecretsecretsecretsecretsecret1"
	tests := []error{
		&UpstreamError{Op: "GET /user", Err: errors.New("echoed header Bearer " + tok)},
		unauthenticated("bad "+tok, errors.New(tok)),
	}
	for _, err := range tests {
		got := redact(err, tok)
		for e := got; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), tok) {
				t.Errorf("redact(%T) = %q still holds the token", err, e.Error())
			}
		}
		if errors.As(err, new(*UpstreamError)) != errors.As(got, new(*UpstreamError)) {
			t.Errorf("redact changed the error's kind: %T -> %T", err, got)
		}
	}
}

func TestParseActorID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want int64 // 0: refused
	}{
		{`"583231"`, 583231},
		{`583231`, 583231},
		{`"9223372036854775807"`, 9223372036854775807},
		{``, 0}, {`null`, 0}, {`""`, 0}, {`"0"`, 0}, {`0`, 0}, {`"-1"`, 0}, {`-1`, 0}, {`"+1"`, 0},
		{`1.0`, 0}, {`1e3`, 0}, {`" 1"`, 0}, {`"1 "`, 0}, {`"0x10"`, 0}, {`true`, 0}, {`{}`, 0}, {`[1]`, 0},
		{`"9223372036854775808"`, 0}, {`"\u0031"`, 1},
	}
	for _, tc := range tests {
		got, err := parseActorID([]byte(tc.raw))
		if (err == nil) != (tc.want != 0) || got != tc.want {
			t.Errorf("parseActorID(%s) = %d, %v; want %d", tc.raw, got, err, tc.want)
		}
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"", "Bearer", "Bearer x", "bearer a.b.c", "Basic x", "Bearer a b", "Bearer ===", "Bearer \x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := bearerToken(h)
		if err != nil {
			var ue *UnauthenticatedError
			if !errors.As(err, &ue) || tok != "" {
				t.Fatalf("bearerToken(%q) = %q, %T", h, tok, err)
			}
			return
		}
		if tok == "" || len(tok) > maxTokenLen || strings.ContainsAny(tok, " \t\r\n") || !isB64Token(tok) {
			t.Fatalf("bearerToken(%q) accepted %q", h, tok)
		}
	})
}

// Concurrent callers asking about one token share one check: a token costs
// at most one GitHub call until its answer expires.
func TestUserCacheRunsOneCheckPerToken(t *testing.T) {
	t.Parallel()
	c := newUserCache(10)
	now := func() time.Time { return time.Unix(1_700_000_000, 0) }
	key := sha256.Sum256([]byte("gho_token"))
	release := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	check := func() (checked, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		<-release
		return checked{id: Identity{UserID: 7, Login: "alice", Via: ViaGitHubToken}}, nil
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			res, err := c.do(context.Background(), key, check, now, time.Minute)
			if err != nil || res.id.UserID != 7 {
				t.Errorf("do = %+v, %v", res, err)
			}
		})
	}
	close(release)
	wg.Wait()
	if calls != 1 {
		t.Errorf("20 concurrent callers ran %d checks, want 1", calls)
	}
}

// A failed check is not cached: the next caller asks again.
func TestUserCacheKeepsNoFailure(t *testing.T) {
	t.Parallel()
	c := newUserCache(10)
	now := func() time.Time { return time.Unix(1_700_000_000, 0) }
	key := sha256.Sum256([]byte("gho_token"))
	calls := 0
	failing := func() (checked, error) { calls++; return checked{}, errors.New("GitHub is down") }
	for range 2 {
		if _, err := c.do(context.Background(), key, failing, now, time.Minute); err == nil {
			t.Fatal("do: no error")
		}
	}
	if calls != 2 || c.len() != 0 {
		t.Errorf("calls %d, cached %d; want 2 and 0", calls, c.len())
	}
}

// Tokens GitHub never issues to an app for a user, and strings that are no
// GitHub token at all, are refused before any call.
func TestTokenShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		token string
		want  string // "": shaped like an app's user token; else a word of the refusal
	}{
		{"gho_16C7e42F292c6912E7710c838347Ae178B4a", ""},
		{"ghu_16C7e42F292c6912E7710c838347Ae178B4a", ""},
		{"0123456789abcdef0123456789abcdef01234567", ""}, // a classic OAuth token
		{"ghp_16C7e42F292c6912E7710c838347Ae178B4a", "personal access token"},
		{"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789", "personal access token"},
		{"ghs_16C7e42F292c6912E7710c838347Ae178B4a", "installation token"},
		{"ghr_16C7e42F292c6912E7710c838347Ae178B4a", "refresh token"},
		{"gho_", "malformed"},
		{"gho_abc-def", "malformed"},
		{"gho_abc_def", "malformed"},
		{"0123456789ABCDEF0123456789ABCDEF01234567", "malformed"},
		{"0123456789abcdef0123456789abcdef0123456", "malformed"},
		{"password", "malformed"},
		{"gho_" + strings.Repeat("a", 252), "malformed"},
		{"", "malformed"},
	}
	for _, tc := range tests {
		got := tokenShape(tc.token)
		if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
			t.Errorf("tokenShape(%q) = %q, want %q", tc.token, got, tc.want)
		}
	}
}

func TestIsTrue(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{`"true"`: true, `true`: true, `"false"`: false, `false`: false, ``: false,
		`null`: false, `"True"`: false, `1`: false, `"1"`: false, `"yes"`: false, `" true"`: false} {
		if got := isTrue([]byte(raw)); got != want {
			t.Errorf("isTrue(%s) = %v, want %v", raw, got, want)
		}
	}
}
