package ghauth_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/elevate-gitops/elevate/internal/ghauth"
)

const (
	dotcomToken  = "gho_dotcomAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	gheToken     = "gho_enterpriseBBBBBBBBBBBBBBBBBBBBBBBBBB"
	refreshToken = "ghr_refreshCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
)

func newStore(t *testing.T) *ghauth.Store {
	t.Helper()
	return &ghauth.Store{Path: filepath.Join(t.TempDir(), "config", "elevate", "token.json")}
}

func skipWithoutModes(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("file modes and owners are not enforced on " + runtime.GOOS)
	}
}

// noTokens fails the test if err shows one of the test tokens.
func noTokens(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, tok := range []string{dotcomToken, gheToken, refreshToken, "gho_", "ghr_", "ghu_"} {
		if strings.Contains(err.Error(), tok) {
			t.Errorf("error %q shows a token", err)
		}
	}
}

func TestStorePerHost(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	if _, err := s.Load("github.com"); !errors.Is(err, ghauth.ErrNoToken) {
		t.Fatalf("Load with no file: err = %v, want ErrNoToken", err)
	}
	if err := s.Save("github.com", ghauth.Token{Access: dotcomToken}); err != nil {
		t.Fatalf("Save github.com: %v", err)
	}
	if _, err := s.Load("ghe.example.com"); !errors.Is(err, ghauth.ErrNoToken) {
		t.Fatalf("Load of another host: err = %v, want ErrNoToken", err)
	}
	if err := s.Save("GHE.example.com", ghauth.Token{Access: gheToken}); err != nil {
		t.Fatalf("Save ghe.example.com: %v", err)
	}
	for host, want := range map[string]string{
		"github.com":       dotcomToken,
		"GitHub.com":       dotcomToken,
		"ghe.example.com":  gheToken,
		" ghe.example.com": gheToken,
	} {
		got, err := s.Load(host)
		if err != nil || got.Access != want {
			t.Errorf("Load(%q) = %q, %v; want the token saved for it", host, got, err)
		}
		noTokens(t, err)
	}
	if err := s.Save("github.com", ghauth.Token{Access: gheToken}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Load("github.com"); got.Access != gheToken {
		t.Errorf("Load after a second Save = %q, want the newer token", got)
	}
}

func TestStoreModes(t *testing.T) {
	t.Parallel()
	skipWithoutModes(t)
	s := newStore(t)
	if err := s.Save("github.com", ghauth.Token{Access: dotcomToken}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("token file mode = %#o, want 0600", m)
	}
	di, err := os.Stat(filepath.Dir(s.Path))
	if err != nil {
		t.Fatal(err)
	}
	if m := di.Mode().Perm(); m != 0o700 {
		t.Errorf("token directory mode = %#o, want 0700", m)
	}
	if ents, _ := os.ReadDir(filepath.Dir(s.Path)); len(ents) != 1 {
		t.Errorf("token directory holds %d files, want 1", len(ents))
	}
}

func TestStoreRefusesFileOthersCanAccess(t *testing.T) {
	t.Parallel()
	skipWithoutModes(t)
	s := newStore(t)
	if err := s.Save("github.com", ghauth.Token{Access: dotcomToken}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(s.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load("github.com")
	if err == nil || errors.Is(err, ghauth.ErrNoToken) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Load of a 0644 token file: err = %v, want a refusal saying chmod 600", err)
	}
	noTokens(t, err)
	if err := s.Save("github.com", ghauth.Token{Access: dotcomToken}); err != nil {
		t.Fatalf("Save over a 0644 file: %v", err)
	}
	if got, err := s.Load("github.com"); err != nil || got.Access != dotcomToken {
		t.Errorf("Load after the repairing Save = %q, %v", got, err)
	}
}

func TestStoreRefusesSymlinkedDirectory(t *testing.T) {
	t.Parallel()
	skipWithoutModes(t)
	root := t.TempDir()
	target := filepath.Join(root, "elsewhere")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(root, "elevate")); err != nil {
		t.Fatal(err)
	}
	s := &ghauth.Store{Path: filepath.Join(root, "elevate", "token.json")}
	err := s.Save("github.com", ghauth.Token{Access: dotcomToken})
	if err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("Save into a symlinked directory: err = %v, want a refusal", err)
	}
	noTokens(t, err)
}

func TestStoreCorruptedFile(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	if err := s.Save("github.com", ghauth.Token{Access: dotcomToken}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{
		b[:len(b)-10],
		[]byte(`{"hosts":{"github.com":{"token":` + dotcomToken + `}}}`),
		[]byte(dotcomToken),
		[]byte(`{"hosts":{"github.com":{"token":"` + dotcomToken + ` x"}}}`),
	} {
		if err := os.WriteFile(s.Path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := s.Load("github.com")
		if err == nil || errors.Is(err, ghauth.ErrNoToken) || !strings.Contains(err.Error(), "elevate login") {
			t.Errorf("Load of %q: err = %v, want an error saying to log in again", bad, err)
		}
		noTokens(t, err)
	}
	if err := s.Save("github.com", ghauth.Token{Access: dotcomToken}); err != nil {
		t.Fatalf("Save over a corrupted file: %v", err)
	}
	if got, err := s.Load("github.com"); err != nil || got.Access != dotcomToken {
		t.Errorf("Load after the repairing Save = %q, %v", got, err)
	}
}

func TestStoreRejectsBadInput(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	for _, tt := range []struct {
		host  string
		token ghauth.Token
	}{
		{"", ghauth.Token{Access: dotcomToken}},
		{"github.com/owner", ghauth.Token{Access: dotcomToken}},
		{"user@github.com", ghauth.Token{Access: dotcomToken}},
		{"github.com", ghauth.Token{}},
		{"github.com", ghauth.Token{Access: dotcomToken + "\n"}},
		{"github.com", ghauth.Token{Access: "gho_ " + dotcomToken}},
		{"github.com", ghauth.Token{Access: dotcomToken, Refresh: "ghr_ x"}},
		{"github.com", ghauth.Token{Access: dotcomToken, Refresh: refreshToken, ClientID: "Iv1.\x1b[31m"}},
	} {
		err := s.Save(tt.host, tt.token)
		if err == nil {
			t.Errorf("Save(%q, …): nil error", tt.host)
		}
		noTokens(t, err)
	}
	if _, err := os.Stat(s.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rejected Saves wrote the file: %v", err)
	}
}

func TestDefaultStore(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("os.UserConfigDir follows XDG_CONFIG_HOME only on Linux and BSDs")
	}
	base := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", base)
	s, err := ghauth.DefaultStore()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(base, "elevate", "token.json"); s.Path != want {
		t.Errorf("Path = %q, want %q", s.Path, want)
	}
}

// The token file keeps what GitHub said of a login (expiry, refresh token,
// app, user) and still loads files written before it did.
func TestStoreFormat(t *testing.T) {
	t.Parallel()
	full := ghauth.Token{
		Access: dotcomToken, Expiry: time.Date(2026, 11, 25, 17, 30, 0, 0, time.UTC),
		Refresh: refreshToken, RefreshExpiry: time.Date(2027, 5, 25, 9, 30, 0, 0, time.UTC),
		ClientID: "Iv1.0123456789abcdef", UserID: 583231,
	}
	tests := []struct {
		name string
		file string // written as it is; "" means Save(want)
		want ghauth.Token
	}{
		{
			name: "written before expiries were kept",
			file: `{"hosts":{"github.com":{"token":"` + dotcomToken + `"}}}`,
			want: ghauth.Token{Access: dotcomToken},
		},
		{
			name: "a token that does not expire",
			want: ghauth.Token{Access: dotcomToken, ClientID: "Iv1.0123456789abcdef", UserID: 583231},
		},
		{name: "a token that expires, with its refresh token", want: full},
		{
			name: "fields a later elevate may add are ignored",
			file: `{"hosts":{"github.com":{"token":"` + dotcomToken + `","expires_at":"2026-11-25T17:30:00Z","refresh_token":"` + refreshToken + `","refresh_token_expires_at":"2027-05-25T09:30:00Z","client_id":"Iv1.0123456789abcdef","user_id":583231,"later":true}},"later":1}`,
			want: full,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			if tt.file == "" {
				if err := s.Save("github.com", tt.want); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(s.Path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.Load("github.com")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Load (-want +got):\n%s", diff)
			}
			// A Save of another host keeps this one as it was.
			if err := s.Save("ghe.example.com", ghauth.Token{Access: gheToken}); err != nil {
				t.Fatal(err)
			}
			if again, err := s.Load("github.com"); err != nil || !cmp.Equal(again, got) {
				t.Errorf("after saving another host: %v, %v; want %v", again, err, got)
			}
		})
	}
}

// A Token printed by mistake shows no secret.
func TestTokenStringHidesSecrets(t *testing.T) {
	t.Parallel()
	tok := ghauth.Token{Access: dotcomToken, Refresh: refreshToken, ClientID: "Iv1.x", UserID: 1}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(format, tok); strings.Contains(out, dotcomToken) || strings.Contains(out, refreshToken) {
			t.Errorf("%s shows a secret: %s", format, out)
		}
	}
}
