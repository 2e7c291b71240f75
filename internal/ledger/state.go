package ledger

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/request"
)

// stateVersion changes when the saved state's meaning does: an older file
// is ignored (a cold start), never misread.
const stateVersion = 4

// maxStateSize bounds a checkpoint once decompressed.
const maxStateSize = 512 << 20

// Checkpoints is one place verified checkpoints are kept
// (checkpoint.File, checkpoint.S3).
type Checkpoints interface {
	Load(ctx context.Context) ([]byte, error) // nil, nil when there is none
	Save(ctx context.Context, data []byte) error
	String() string
}

// checkpointTimeout bounds reading or writing one checkpoint.
const checkpointTimeout = 30 * time.Second

// savedState is a verified checkpoint: the index at the last recorded move
// (its grants parsed, so nothing is read from git again), the policy
// chain's verdicts and every definitive grant verdict. A start begins
// there and reads only what GitHub recorded after it, so its cost does not
// grow with history. It is a cache, never evidence: it is read back only
// when its MAC, under a key that is not where it is kept, holds, and only
// for the same anchor and branch.
type savedState struct {
	Version    int
	Repository string
	Anchor     string
	Branch     string
	Head       string
	Judged     custody.Mark
	Horizon    time.Time
	TopSeq     int64
	Grants     []savedGrant
	Removed    []savedRemoval
	// Emergencies are the emergency requests added in the window that
	// neither Grants nor Removed hold any more.
	Emergencies []savedGrant `json:",omitempty"`
	Policy      []custody.Step
	PolicySeq   []int64
	Chain       []custody.Verdict
	Verified    map[string]*custody.Verification
}

type savedGrant struct {
	ID, Path, Blob, Invalid string           `json:",omitempty"`
	Request                 *request.Request `json:",omitempty"`
	Step                    custody.Move
	Seq                     int64
	Digest                  [32]byte // of the bytes verified
}

type savedRemoval struct {
	ID, Commit, Blob string
	At               time.Time
	Request          *request.Request `json:",omitempty"`
	Added            custody.Move     `json:",omitzero"`
	Path             string           `json:",omitempty"`
	Seq              int64            `json:",omitempty"`
}

// checkpointMagic opens a checkpoint: then its MAC, then the gzipped state.
// The MAC covers the compressed bytes, so nothing is decompressed before
// it holds.
const checkpointMagic = "elevate-checkpoint-v4\n"

func (l *Ledger) mac(packed []byte) []byte {
	m := hmac.New(sha256.New, l.cfg.StateKey)
	m.Write([]byte("elevate ledger checkpoint\x00"))
	m.Write(packed)
	return m.Sum(nil)
}

// save writes the checkpoint of x (a verified sync's index) to every place
// it is kept, when it says more than the last one written; failing to is
// only logged: a later start reads more history, nothing else.
func (l *Ledger) save(x *Index) {
	if len(l.cfg.Checkpoints) == 0 || len(l.cfg.StateKey) == 0 || x == nil {
		return
	}
	if x.settled != nil {
		// Only what GitHub recorded is a checkpoint: a head its activity
		// does not list yet may still turn out to be a rewrite.
		return
	}
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	l.stateMu.Lock()
	verified := len(l.verified)
	l.stateMu.Unlock()
	if l.savedMark == x.Judged && l.savedHead == x.Head && l.savedVerified == verified {
		return
	}
	data, err := l.seal(x)
	if err != nil {
		l.cfg.Logger.Warn("could not write the ledger's checkpoint; a new start will read more history", "error", err)
		return
	}
	for _, c := range l.cfg.Checkpoints {
		ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
		err := c.Save(ctx, data)
		cancel()
		if err != nil {
			l.cfg.Logger.Warn("could not write the ledger's checkpoint; a new start will read more history", "where", c.String(), "error", err)
		}
	}
	l.savedMark, l.savedHead, l.savedVerified = x.Judged, x.Head, verified
}

// seal encodes, authenticates and compresses the checkpoint of x.
func (l *Ledger) seal(x *Index) ([]byte, error) {
	st := savedState{Version: stateVersion, Repository: l.cfg.Repository, Anchor: l.cfg.Anchor, Branch: l.cfg.Branch, Head: x.Head, Judged: x.Judged, Horizon: x.Horizon, TopSeq: x.topSeq,
		Policy: x.policy, PolicySeq: x.policySeq, Verified: map[string]*custody.Verification{}}
	for _, g := range x.grants {
		st.Grants = append(st.Grants, savedGrant{ID: g.ID, Path: g.Path, Request: g.Request, Step: g.Step, Blob: g.Blob, Invalid: g.Invalid, Seq: g.Seq, Digest: g.Digest})
	}
	for _, r := range x.removed {
		st.Removed = append(st.Removed, savedRemoval{ID: r.ID, Commit: r.Commit, Blob: r.Blob, At: r.At, Request: r.Request, Added: r.Added, Path: r.Path, Seq: r.Seq})
	}
	for _, g := range x.emergencies {
		if cur, ok := x.grants[g.ID]; ok && cur.Step.After == g.Step.After {
			continue
		}
		if r, ok := x.removed[g.ID]; ok && r.Added.After == g.Step.After {
			continue
		}
		st.Emergencies = append(st.Emergencies, savedGrant{ID: g.ID, Path: g.Path, Request: g.Request, Step: g.Step, Blob: g.Blob, Seq: g.Seq})
	}
	st.Chain = x.Chain.Settled()
	l.stateMu.Lock()
	for _, k := range x.verdictKeys() {
		if v, ok := l.verified[k]; ok {
			st.Verified[k] = v
		}
	}
	l.stateMu.Unlock()
	state, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := zw.Write(state); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	packed := buf.Bytes()
	return slices.Concat([]byte(checkpointMagic), l.mac(packed), packed), nil
}

// open reads back a checkpoint: its MAC must hold, for this anchor and
// branch. The error says why it is ignored.
func (l *Ledger) open(data []byte) (*savedState, error) {
	rest, ok := bytes.CutPrefix(data, []byte(checkpointMagic))
	if !ok || len(rest) < sha256.Size {
		return nil, errors.New("it is not a checkpoint of this version")
	}
	sum, packed := rest[:sha256.Size], rest[sha256.Size:]
	if !hmac.Equal(sum, l.mac(packed)) {
		return nil, errors.New("its MAC does not hold (written with another --state-key, or edited)")
	}
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		return nil, fmt.Errorf("it does not decompress: %w", err)
	}
	state, err := io.ReadAll(io.LimitReader(zr, maxStateSize+1))
	if err != nil || len(state) > maxStateSize {
		return nil, fmt.Errorf("it does not decompress within %d bytes", maxStateSize)
	}
	var st savedState
	switch err := json.Unmarshal(state, &st); {
	case err != nil:
		return nil, fmt.Errorf("it does not decode: %w", err)
	case st.Version != stateVersion:
		return nil, fmt.Errorf("it is of version %d, not %d", st.Version, stateVersion)
	case st.Repository != l.cfg.Repository || st.Anchor != l.cfg.Anchor || st.Branch != l.cfg.Branch:
		return nil, fmt.Errorf("it is for %s at --trust-anchor %.12s on %s, not %s at %.12s on %s", st.Repository, st.Anchor, st.Branch, l.cfg.Repository, l.cfg.Anchor, l.cfg.Branch)
	case st.Head != st.Judged.Head:
		return nil, fmt.Errorf("its head %.12s is not where GitHub's record left the branch (%.12s)", st.Head, st.Judged.Head)
	}
	return &st, nil
}

// CheckpointProblems lists the checkpoints this ledger found and ignored,
// and why (for /healthz and the log).
func (l *Ledger) CheckpointProblems() []string {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return slices.Clone(l.ignored)
}

// restore rebuilds the index from the newest checkpoint that verifies (by
// the recorded move it was judged to), if any. A checkpoint that does not
// verify is ignored and reported, never an error: the start reads more
// history instead.
func (l *Ledger) restore(ctx context.Context) *Index {
	if len(l.cfg.Checkpoints) == 0 || len(l.cfg.StateKey) == 0 {
		return nil
	}
	var found []*savedState
	var problems []string
	for _, c := range l.cfg.Checkpoints {
		lctx, cancel := context.WithTimeout(ctx, checkpointTimeout)
		data, err := c.Load(lctx)
		cancel()
		var st *savedState
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", c, err))
		case data == nil:
		default:
			if st, err = l.open(data); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", c, err))
			} else {
				found = append(found, st)
			}
		}
	}
	// The newest first: activity ids only grow.
	slices.SortStableFunc(found, func(a, b *savedState) int { return cmp.Compare(b.Judged.ID, a.Judged.ID) })
	var x *Index
	var from *savedState
	for _, st := range found {
		var err error
		if x, err = l.rebuild(ctx, st); err == nil {
			from = st
			break
		}
		problems = append(problems, fmt.Sprintf("the checkpoint at %.12s: %v", st.Head, err))
	}
	for _, p := range problems {
		l.cfg.Logger.Warn("ignoring a checkpoint of the ledger: it does not verify", "problem", p)
	}
	l.stateMu.Lock()
	l.ignored = problems
	if from != nil {
		maps.Copy(l.verified, from.Verified)
	}
	l.stateMu.Unlock()
	if from == nil {
		return nil
	}
	l.saveMu.Lock()
	l.savedMark, l.savedHead, l.savedVerified = from.Judged, from.Head, len(from.Verified)
	l.saveMu.Unlock()
	l.cfg.Logger.Info("ledger restored from a checkpoint", "head", x.Head, "recorded_head", x.Judged.Head, "grants", x.Len(), "verified", len(from.Verified))
	return x
}

func (l *Ledger) rebuild(ctx context.Context, st *savedState) (*Index, error) {
	x := newIndex()
	x.Head, x.Judged, x.Horizon, x.topSeq, x.policy, x.policySeq = st.Head, st.Judged, st.Horizon, st.TopSeq, st.Policy, st.PolicySeq
	if len(x.policy) != len(x.policySeq) {
		return nil, errors.New("policy changes and their order do not match")
	}
	x.Policy, x.PolicyErr = l.policyAt(ctx, st.Head)
	if x.PolicyErr != nil && x.Policy == nil {
		if _, err := l.git.Diff(ctx, st.Head, st.Head, nil, 0); err != nil {
			return nil, fmt.Errorf("its head %.12s is not in this repository: %w", st.Head, err)
		}
	}
	if r, ok := l.cfg.Verifier.(interface{ Remember([]custody.Verdict) }); ok {
		r.Remember(st.Chain)
	}
	x.Chain = l.cfg.Verifier.Chain(ctx, x.policy)
	for _, e := range st.Emergencies {
		x.noteEmergency(&Grant{ID: e.ID, Path: e.Path, Request: e.Request, Step: e.Step, Seq: e.Seq, Blob: e.Blob})
	}
	for _, r := range st.Removed {
		x.remove(r.ID, &Removal{ID: r.ID, Commit: r.Commit, At: r.At, Blob: r.Blob, Request: r.Request, Added: r.Added, Path: r.Path, Seq: r.Seq})
	}
	for _, s := range st.Grants {
		if (s.Request == nil) == (s.Invalid == "") {
			return nil, fmt.Errorf("grant %s is neither a request nor invalid", s.ID)
		}
		x.add(s.ID, &Grant{ID: s.ID, Path: s.Path, Request: s.Request, Step: s.Step, Blob: s.Blob, Invalid: s.Invalid, Seq: s.Seq, Digest: s.Digest})
	}
	x.SyncedAt = l.cfg.Now()
	return x, nil
}
