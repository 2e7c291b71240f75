package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/gitlog"
	"github.com/elevate-gitops/elevate/internal/privfile"
	"github.com/elevate-gitops/elevate/internal/request"
)

// stateVersion changes when the saved state's meaning does: an older file
// is ignored (a cold start), never misread.
const stateVersion = 1

// maxStateSize bounds the saved state read back.
const maxStateSize = 256 << 20

// savedState is what a restart on the same machine starts from: the index
// (without file contents, which git holds by blob) and every definitive
// verdict, so it answers without re-reading the window or asking GitHub
// again. The broker alone writes it, 0600 in its private state directory.
type savedState struct {
	Version   int
	Anchor    string
	Head      string
	Horizon   time.Time
	TopSeq    int64
	Grants    []savedGrant
	Removed   []savedRemoval
	Policy    []gitlog.Commit
	PolicySeq []int64
	Chain     []custody.Verdict
	Verified  map[string]*custody.Verification
}

type savedGrant struct {
	ID, Path, Commit, Parent, Blob, Invalid string
	CommittedAt                             time.Time
	Seq                                     int64
}

type savedRemoval struct {
	ID, Commit, Blob string
	At               time.Time
}

// save writes the state of x atomically; failing to is only logged.
func (l *Ledger) save(x *Index) {
	if l.cfg.StatePath == "" || x == nil {
		return
	}
	st := savedState{Version: stateVersion, Anchor: l.cfg.Anchor, Head: x.Head, Horizon: x.Horizon, TopSeq: x.topSeq,
		Policy: x.policy, PolicySeq: x.policySeq, Verified: map[string]*custody.Verification{}}
	for _, g := range x.grants {
		st.Grants = append(st.Grants, savedGrant{ID: g.ID, Path: g.Path, Commit: g.Commit, Parent: g.Parent, Blob: g.Blob, Invalid: g.Invalid, CommittedAt: g.CommittedAt, Seq: g.Seq})
	}
	for _, r := range x.removed {
		st.Removed = append(st.Removed, savedRemoval{ID: r.ID, Commit: r.Commit, Blob: r.Blob, At: r.At})
	}
	for _, v := range x.Chain.Verdicts {
		if v.Checked {
			st.Chain = append(st.Chain, v)
		}
	}
	l.stateMu.Lock()
	for k, v := range l.verified {
		st.Verified[k] = v
	}
	l.stateMu.Unlock()
	data, err := json.Marshal(st)
	if err == nil {
		dir := filepath.Dir(l.cfg.StatePath)
		if err = privfile.EnsureDir(dir); err == nil {
			err = privfile.WriteAtomic(dir, l.cfg.StatePath, data)
		}
	}
	if err != nil {
		l.cfg.Logger.Warn("could not save the ledger's state; a restart will start cold", "error", err)
	}
}

// restore rebuilds the index saved by an earlier run, if there is one for
// the same anchor. Anything amiss means a cold start, never an error.
func (l *Ledger) restore(ctx context.Context) *Index {
	if l.cfg.StatePath == "" {
		return nil
	}
	data, err := privfile.ReadPrivate(l.cfg.StatePath, maxStateSize)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.cfg.Logger.Warn("ignoring the saved ledger state", "error", err)
		}
		return nil
	}
	var st savedState
	if err := json.Unmarshal(data, &st); err != nil || st.Version != stateVersion || st.Anchor != l.cfg.Anchor {
		l.cfg.Logger.Info("the saved ledger state is for another anchor or version: starting cold")
		return nil
	}
	x, err := l.rebuild(ctx, &st)
	if err != nil {
		l.cfg.Logger.Warn("ignoring the saved ledger state", "error", err)
		return nil
	}
	l.stateMu.Lock()
	for k, v := range st.Verified {
		l.verified[k] = v
	}
	l.stateMu.Unlock()
	l.cfg.Logger.Info("ledger restored from its saved state", "head", x.Head, "grants", x.Len(), "verified", len(st.Verified))
	return x
}

func (l *Ledger) rebuild(ctx context.Context, st *savedState) (*Index, error) {
	if _, err := l.git.CommitTime(ctx, st.Head); err != nil {
		return nil, fmt.Errorf("the saved head %.12s is not in this repository: %w", st.Head, err)
	}
	x := newIndex()
	x.Head, x.Horizon, x.topSeq, x.policy, x.policySeq = st.Head, st.Horizon, st.TopSeq, st.Policy, st.PolicySeq
	if len(x.policy) != len(x.policySeq) {
		return nil, errors.New("policy commits and their order do not match")
	}
	x.Policy, x.PolicyErr = l.policyAt(ctx, st.Head)
	if r, ok := l.cfg.Verifier.(interface{ Remember([]custody.Verdict) }); ok {
		r.Remember(st.Chain)
	}
	x.Chain = l.cfg.Verifier.Chain(ctx, st.Head, x.policy)
	var shas []string
	for _, g := range st.Grants {
		shas = append(shas, g.Blob)
	}
	for _, r := range st.Removed {
		shas = append(shas, r.Blob)
	}
	blobs, err := l.git.Blobs(ctx, shas, request.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("read the saved grants: %w", err)
	}
	for i, r := range st.Removed {
		rm := &Removal{ID: r.ID, Commit: r.Commit, At: r.At, Blob: r.Blob}
		if data := blobs[len(st.Grants)+i].Data; data != nil {
			rm.Request, _ = request.Parse("requests/"+r.ID+".yaml", data)
		}
		x.remove(r.ID, rm)
	}
	for i, s := range st.Grants {
		g := &Grant{ID: s.ID, Path: s.Path, Commit: s.Commit, Parent: s.Parent, Blob: s.Blob, Invalid: s.Invalid, CommittedAt: s.CommittedAt, Seq: s.Seq}
		if g.Invalid == "" {
			b := blobs[i]
			if b.Data == nil {
				return nil, fmt.Errorf("grant %s: blob %.12s is gone", s.ID, s.Blob)
			}
			g.setContent(b.Data)
		}
		x.add(g.ID, g)
	}
	x.SyncedAt = l.cfg.Now()
	return x, nil
}
