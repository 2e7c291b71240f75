package ghauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/elevate-gitops/elevate/internal/githubapi"
	"github.com/elevate-gitops/elevate/internal/privfile"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNoToken is returned (wrapped) by Store.Load when no token is stored for
// the host.
var ErrNoToken = errors.New("no stored token")

const (
	// maxStoreSize bounds what Load reads.
	maxStoreSize = 1 << 20

	// lockWait bounds the wait for another process's renewal: longer than
	// one renewal's call to GitHub (defaultLoginTimeout).
	lockWait = defaultLoginTimeout + 10*time.Second
)

// Store keeps one login per GitHub host (github.com, or the GitHub
// Enterprise host) in the JSON file at Path:
//
//	{"hosts":{"github.com":{"token":"ghu_…","expires_at":"2026-11-25T17:30:00Z",
//	  "refresh_token":"ghr_…","refresh_token_expires_at":"2027-05-25T09:30:00Z",
//	  "client_id":"Iv1.…","user_id":583231}}}
//
// Only "token" is required: a file written before elevate kept expiries
// loads as a token that does not expire. The file is written 0600 through
// a temporary file and a rename, in a directory of mode 0700; Load refuses
// a file other users can read or write, or one that is not the user's.
// Two Saves racing each other may lose one of them (the last rename wins);
// renewals, which the AWS CLI may start several at once, take a lock first
// (see Session).
type Store struct {
	Path string
}

// DefaultStore returns the store at os.UserConfigDir()/elevate/token.json.
// It does not touch the file system.
func DefaultStore() (*Store, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return nil, fmt.Errorf("find user config directory: %w", err)
	}
	return &Store{Path: filepath.Join(base, "elevate", "token.json")}, nil
}

// HostFor returns the key Store uses for the GitHub instance whose REST API
// is at apiURL: the host (and port, if any) of WebHost(apiURL), for example
// "github.com" for "" or https://api.github.com.
func HostFor(apiURL string) (string, error) {
	u, err := githubapi.WebHost(apiURL)
	if err != nil {
		return "", err
	}
	return u.Host, nil
}

type storeFile struct {
	Hosts map[string]Token `json:"hosts"`
}

// Save stores t for host, keeping the logins of other hosts.
func (s *Store) Save(host string, t Token) error {
	h, err := normaliseHost(host)
	if err != nil {
		return fmt.Errorf("save token: %w", err)
	}
	if err := t.check(); err != nil {
		return fmt.Errorf("save token for %s: %w", h, err)
	}
	if s == nil || s.Path == "" {
		return errors.New("save token: no token file")
	}
	dir := filepath.Dir(s.Path)
	if err := privfile.EnsureDir(dir); err != nil {
		return fmt.Errorf("save token: %w", err)
	}
	f, err := s.read()
	if err != nil {
		// A file that cannot be trusted is replaced, not merged.
		f = storeFile{}
	}
	if f.Hosts == nil {
		f.Hosts = map[string]Token{}
	}
	f.Hosts[h] = t
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("save token: %w", err)
	}
	if err := privfile.WriteAtomic(dir, s.Path, append(b, '\n')); err != nil {
		return fmt.Errorf("save token to %s: %w", s.Path, err)
	}
	return nil
}

// Load returns the login stored for host, as it is (see Session for one
// that is renewed). With no file, or no token for host, the error wraps
// ErrNoToken.
func (s *Store) Load(host string) (Token, error) {
	h, err := normaliseHost(host)
	if err != nil {
		return Token{}, fmt.Errorf("load token: %w", err)
	}
	if s == nil || s.Path == "" {
		return Token{}, fmt.Errorf("load token for %s: %w", h, ErrNoToken)
	}
	f, err := s.read()
	if errors.Is(err, os.ErrNotExist) {
		return Token{}, fmt.Errorf("load token for %s: %w", h, ErrNoToken)
	}
	if err != nil {
		return Token{}, fmt.Errorf("load token for %s: %w; run `elevate login` again", h, err)
	}
	e, ok := f.Hosts[h]
	if !ok || e.Access == "" {
		return Token{}, fmt.Errorf("load token for %s: %w", h, ErrNoToken)
	}
	if e.check() != nil {
		return Token{}, fmt.Errorf("load token for %s: the stored token is malformed; run `elevate login` again", h)
	}
	return e, nil
}

// lock takes the lock that one renewal at a time holds, waiting for
// another process's renewal to end (at most lockWait, or until ctx is
// done). The lock is a file beside Path, in the same 0700 directory.
func (s *Store) lock(ctx context.Context) (unlock func(), err error) {
	if s == nil || s.Path == "" {
		return nil, errors.New("lock token file: no token file")
	}
	dir := filepath.Dir(s.Path)
	if err := privfile.EnsureDir(dir); err != nil {
		return nil, fmt.Errorf("lock token file: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	unlock, err = lockFile(ctx, s.Path+".lock")
	if err != nil {
		return nil, fmt.Errorf("lock token file %s: %w", s.Path, err)
	}
	return unlock, nil
}

// read parses the token file if it is safe to trust.
func (s *Store) read() (storeFile, error) {
	b, err := privfile.ReadPrivate(s.Path, maxStoreSize)
	if err != nil {
		return storeFile{}, fmt.Errorf("token file: %w", err)
	}
	var f storeFile
	if err := json.Unmarshal(b, &f); err != nil {
		// encoding/json quotes a piece of the input, which may be a token.
		return storeFile{}, fmt.Errorf("token file %s is not valid JSON", s.Path)
	}
	return f, nil
}

// normaliseHost lower-cases host and refuses anything but a host[:port].
func normaliseHost(host string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(host))
	if h == "" {
		return "", errors.New("no GitHub host")
	}
	if strings.ContainsAny(h, "/@?# \t\r\n") {
		return "", fmt.Errorf("GitHub host %q is not a host name", h)
	}
	return h, nil
}

// checkToken refuses an empty token or one with spaces or control
// characters, which no GitHub token has. It never quotes the token.
func checkToken(token string) error {
	if token == "" {
		return errors.New("empty token")
	}
	for _, r := range token {
		if r <= ' ' || r == 0x7f {
			return errors.New("token has spaces or control characters")
		}
	}
	return nil
}
