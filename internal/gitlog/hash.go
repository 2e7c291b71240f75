package gitlog

import (
	"crypto"
	"crypto/sha1"

	"github.com/go-git/go-git/v5/plumbing/hash"
)

// go-git hashes every object it reads from a delta with SHA-1 (it keys its
// cache by the hash), which is how elevate checks that what it reads is
// what its name says. By default it uses sha1cd, SHA-1 with collision
// detection, which guards against someone who crafts both of two objects
// with one name. Every object elevate reads came from GitHub, which
// refuses objects that carry such an attack, or from git's own fetch,
// which detects them too; what is left to check when reading is that the
// bytes in the clone hash to their name, and matching an existing name is
// a second preimage, which SHA-1 resists. The standard library's SHA-1 is
// hardware-accelerated and halves the hashing of a cold start, which
// hashes every version of every request folder in the window.
func init() {
	if err := hash.RegisterHash(crypto.SHA1, sha1.New); err != nil {
		panic(err)
	}
}
