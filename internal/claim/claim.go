// Package claim sends each notice at most once, however many broker
// replicas or Lambda instances see the event behind it.
//
// A sender claims the event's id before it sends and sends only when the
// claim is granted: the first Claim of an id wins, every later one loses
// until the claim's ttl has passed. A claim that cannot be made (the table
// is unreachable, the call times out) is an error, and the sender must try
// again later rather than send: the notice is delayed, never sent twice.
package claim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Claimer grants each event id to one caller, once: the first Claim of id
// returns true; every later one (by any replica) false, until ttl after the
// first.
// An error means it could not tell (the table is unreachable): the caller
// must try again later and must never send on an error.
type Claimer interface {
	Claim(ctx context.Context, id string, ttl time.Duration) (bool, error)
}

// maxIDBytes is the longest id stored as given; a longer one is stored as
// its SHA-256, well inside DynamoDB's 2048-byte partition key.
const maxIDBytes = 1024

// key is the key an id is claimed under: the id itself, or "sha256:<hex>"
// of an id longer than maxIDBytes or not valid UTF-8 (DynamoDB's strings
// are UTF-8, so two such ids could otherwise collide).
func key(id string, ttl time.Duration) (string, error) {
	if id == "" {
		return "", errors.New("claim: empty id")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("claim: ttl %s is not positive", ttl)
	}
	if len(id) > maxIDBytes || !utf8.ValidString(id) {
		sum := sha256.Sum256([]byte(id))
		return "sha256:" + hex.EncodeToString(sum[:]), nil
	}
	return id, nil
}
