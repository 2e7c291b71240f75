package gitlog

import (
	"bytes"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// tree is a tree object's content, read in place: entries of "<octal
// mode> <name>\0<20-byte hash>" in git's order. Comparing two trees walks
// both buffers side by side without decoding them into entries: a month
// folder of thousands of requests changes by one entry a merge, and
// decoding every entry of every version was most of a cold start.
type tree struct {
	hash plumbing.Hash // zero for no tree (empty)
	data []byte
}

// treeEntry is one entry of a tree; name points into the tree's buffer.
type treeEntry struct {
	mode filemode.FileMode
	name []byte
	hash plumbing.Hash
}

// errBadTree says a tree object does not parse.
var errBadTree = fmt.Errorf("malformed tree object: %w", ErrCorrupt)

// next parses the entry at off, returning it and the offset of the next.
func (t tree) next(off int) (treeEntry, int, error) {
	d := t.data[off:]
	sp := bytes.IndexByte(d, ' ')
	if sp <= 0 || sp > 7 {
		return treeEntry{}, 0, errBadTree
	}
	var mode uint32
	for _, c := range d[:sp] {
		if c < '0' || c > '7' {
			return treeEntry{}, 0, errBadTree
		}
		mode = mode<<3 | uint32(c-'0')
	}
	nul := bytes.IndexByte(d[sp+1:], 0)
	if nul <= 0 || sp+1+nul+1+20 > len(d) {
		return treeEntry{}, 0, errBadTree
	}
	e := treeEntry{mode: filemode.FileMode(mode), name: d[sp+1 : sp+1+nul]}
	copy(e.hash[:], d[sp+1+nul+1:])
	return e, off + sp + 1 + nul + 1 + 20, nil
}

// find returns the entry named name.
func (t tree) find(name string) (treeEntry, bool, error) {
	for off := 0; off < len(t.data); {
		e, n, err := t.next(off)
		if err != nil {
			return treeEntry{}, false, err
		}
		if string(e.name) == name {
			return e, true, nil
		}
		off = n
	}
	return treeEntry{}, false, nil
}

// compareEntries orders tree entries as git sorts them: by name, a tree's
// name as if it ended in "/".
func compareEntries(a, b *treeEntry) int {
	an, bn := a.name, b.name
	n := min(len(an), len(bn))
	if c := bytes.Compare(an[:n], bn[:n]); c != 0 {
		return c
	}
	ac, bc := byte(0), byte(0)
	if len(an) > n {
		ac = an[n]
	} else if a.mode == filemode.Dir {
		ac = '/'
	}
	if len(bn) > n {
		bc = bn[n]
	} else if b.mode == filemode.Dir {
		bc = '/'
	}
	return int(ac) - int(bc)
}

// entryEnd is the offset just past the entry at off, from its name's NUL
// alone (the 20-byte hash follows it).
func entryEnd(data []byte, off int) (int, bool) {
	nul := bytes.IndexByte(data[off:], 0)
	if nul < 0 || off+nul+1+20 > len(data) {
		return 0, false
	}
	return off + nul + 1 + 20, true
}

// sharedPrefix is how many leading bytes a and b share.
func sharedPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+64 <= n && bytes.Equal(a[i:i+64], b[i:i+64]); i += 64 {
	}
	for ; i < n && a[i] == b[i]; i++ {
	}
	return i
}

// sharedSuffix is how many trailing bytes a and b share.
func sharedSuffix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+64 <= n && bytes.Equal(a[len(a)-i-64:len(a)-i], b[len(b)-i-64:len(b)-i]); i += 64 {
	}
	for ; i < n && a[len(a)-1-i] == b[len(b)-1-i]; i++ {
	}
	return i
}
