package credcache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/elevate-gitops/elevate/internal/privfile"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/elevate-gitops/elevate/internal/awscreds"
)

const (
	// DefaultMargin is how long before expiry an entry stops being served.
	DefaultMargin = 5 * time.Minute

	// fileVersion is the version of the on-disk format.
	fileVersion = 1

	// maxFileSize bounds what Get reads; an entry is well under 4 KiB.
	maxFileSize = 64 << 10
)

// Key names one cache entry.
type Key struct {
	// Broker is the broker URL the credentials came from.
	Broker string
	// UserHint tells GitHub identities apart, for example a SHA-256 prefix
	// of the GitHub token. Never the token itself.
	UserHint string
	// Request is the request id, or empty when Account and Role are given.
	Request string
	// Account and Role name the grant when Request is empty.
	Account string
	Role    string
}

// Entry is one cached issuance.
type Entry struct {
	Credentials awscreds.Credentials
	// Request is the id of the request the credentials were issued for.
	Request string
	// WindowEnd is the end of the grant's window; zero if unknown.
	WindowEnd time.Time
}

// Cache is a directory of cached credentials. The zero Margin means
// DefaultMargin; a nil Now means time.Now.
type Cache struct {
	Dir    string
	Now    func() time.Time
	Margin time.Duration
}

// Default returns the cache at os.UserCacheDir()/elevate/credentials,
// creating the directory (0700) if needed.
func Default() (*Cache, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("find user cache directory: %w", err)
	}
	c := &Cache{Dir: filepath.Join(base, "elevate", "credentials")}
	if err := c.ensureDir(); err != nil {
		return nil, err
	}
	return c, nil
}

// fileKey is the key as stored in a file, so Get can confirm the file holds
// the entry it was asked for.
type fileKey struct {
	Broker   string `json:"broker"`
	UserHint string `json:"user_hint"`
	Request  string `json:"request"`
	Account  string `json:"account"`
	Role     string `json:"role"`
}

// file is the JSON content of one cache file.
type file struct {
	Version         int       `json:"version"`
	Key             fileKey   `json:"key"`
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token,omitempty"`
	Expiration      time.Time `json:"expiration"`
	Request         string    `json:"request,omitempty"`
	WindowEnd       time.Time `json:"window_end,omitzero"`
}

// Get returns the entry for k. It is a miss (nil, false) when the file is
// absent, unreadable, corrupted, not a regular file owned by the user with
// mode 0600 or stricter, recorded under another key, when the credentials
// expire within Margin of now, or when the grant's window has ended.
func (c *Cache) Get(k Key) (*Entry, bool) {
	if validKey(k) != nil {
		return nil, false
	}
	b, ok := c.read(c.path(k))
	if !ok {
		return nil, false
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, false
	}
	if f.Version != fileVersion || f.Key != fileKey(k) ||
		f.AccessKeyID == "" || f.SecretAccessKey == "" || f.Expiration.IsZero() {
		return nil, false
	}
	e := &Entry{
		Credentials: awscreds.Credentials{
			AccessKeyID:     f.AccessKeyID,
			SecretAccessKey: f.SecretAccessKey,
			SessionToken:    f.SessionToken,
			Expiration:      f.Expiration,
		},
		Request:   f.Request,
		WindowEnd: f.WindowEnd,
	}
	if !c.fresh(e) {
		return nil, false
	}
	return e, true
}

// fresh reports whether e may be served now.
func (c *Cache) fresh(e *Entry) bool {
	now := c.now()
	if !e.Credentials.Expiration.Add(-c.margin()).After(now) {
		return false
	}
	// Credentials outliving their grant are refused by the session policy:
	// past the window end they are useless however long they last.
	return e.WindowEnd.IsZero() || e.WindowEnd.After(now)
}

// read returns the content of the cache file at p if it is safe to trust.
func (c *Cache) read(p string) ([]byte, bool) {
	b, err := privfile.ReadPrivate(p, maxFileSize)
	return b, err == nil
}

// Put stores e under k, replacing any previous entry atomically.
func (c *Cache) Put(k Key, e Entry) error {
	if err := validKey(k); err != nil {
		return fmt.Errorf("write credential cache: %w", err)
	}
	cr := e.Credentials
	if cr.AccessKeyID == "" || cr.SecretAccessKey == "" || cr.Expiration.IsZero() {
		return errors.New("write credential cache: credentials lack an access key id, secret or expiration")
	}
	b, err := json.Marshal(file{
		Version:         fileVersion,
		Key:             fileKey(k),
		AccessKeyID:     cr.AccessKeyID,
		SecretAccessKey: cr.SecretAccessKey,
		SessionToken:    cr.SessionToken,
		Expiration:      cr.Expiration.UTC(),
		Request:         e.Request,
		WindowEnd:       utcOrZero(e.WindowEnd),
	})
	if err != nil {
		return fmt.Errorf("write credential cache: %w", err)
	}
	if err := c.ensureDir(); err != nil {
		return err
	}
	if err := privfile.WriteAtomic(c.Dir, c.path(k), b); err != nil {
		return fmt.Errorf("write credential cache: %w", err)
	}
	return nil
}

// Delete removes the entry for k; an absent entry is not an error.
func (c *Cache) Delete(k Key) error {
	if err := validKey(k); err != nil {
		return fmt.Errorf("delete credential cache entry: %w", err)
	}
	if err := os.Remove(c.path(k)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete credential cache entry: %w", err)
	}
	return nil
}

// fileName returns the file name of k's entry: the hex SHA-256 of k's canonical
// JSON (encoding/json of Key, fields in declaration order).
func fileName(k Key) string {
	b, err := json.Marshal(k)
	if err != nil {
		// A struct of strings always marshals.
		panic(fmt.Sprintf("credcache: marshal key: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (c *Cache) path(k Key) string { return filepath.Join(c.Dir, fileName(k)) }

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Cache) margin() time.Duration {
	if c.Margin <= 0 {
		return DefaultMargin
	}
	return c.Margin
}

// ensureDir creates the cache directory (see privfile.EnsureDir).
func (c *Cache) ensureDir() error {
	if err := privfile.EnsureDir(c.Dir); err != nil {
		return fmt.Errorf("credential cache: %w", err)
	}
	return nil
}

func validKey(k Key) error {
	switch {
	case k.Broker == "":
		return errors.New("key has no broker")
	case k.UserHint == "":
		return errors.New("key has no user hint")
	case k.Request == "" && (k.Account == "" || k.Role == ""):
		return errors.New("key names neither a request nor an account and role")
	}
	return nil
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// DropRequest removes every entry whose grant is id, or ends in "/"+id (the
// suffix a person may type), whichever key it was cached under: the broker
// said the grant is over, so nothing of it may be served again. It returns
// how many entries it removed.
func (c *Cache) DropRequest(id string) (int, error) {
	if id == "" {
		return 0, nil
	}
	names, err := os.ReadDir(c.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("credential cache: %w", err)
	}
	dropped := 0
	for _, de := range names {
		if len(de.Name()) != 64 || !de.Type().IsRegular() {
			continue
		}
		p := filepath.Join(c.Dir, de.Name())
		b, ok := c.read(p)
		if !ok {
			continue
		}
		var f file
		if json.Unmarshal(b, &f) != nil || f.Request == "" {
			continue
		}
		if f.Request != id && !strings.HasSuffix(f.Request, "/"+id) {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return dropped, fmt.Errorf("credential cache: %w", err)
		}
		dropped++
	}
	return dropped, nil
}
