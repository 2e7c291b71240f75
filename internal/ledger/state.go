package ledger

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/elevate-gitops/elevate/internal/custody"
	"github.com/elevate-gitops/elevate/internal/privfile"
	"github.com/elevate-gitops/elevate/internal/request"
)

// stateVersion changes when the saved state's meaning does: an older file
// is ignored (a cold start), never misread.
const stateVersion = 3

// maxStateSize bounds the saved state read back.
const maxStateSize = 256 << 20

// savedState is what a restart on the same machine starts from: the index
// at the last recorded move (without file contents, which git holds by
// blob) and every definitive verdict, so it answers without reading
// GitHub's activity from the anchor or asking GitHub again. It is a cache,
// never evidence: it is read back only when its MAC, under a key that is
// not in the state directory, holds.
type savedState struct {
	Version int
	Anchor  string
	Branch  string
	Head    string
	Judged  custody.Mark
	Horizon time.Time
	TopSeq  int64
	Grants  []savedGrant
	Removed []savedRemoval
	// Emergencies are the emergency requests added in the window that
	// neither Grants nor Removed hold any more.
	Emergencies []savedGrant `json:",omitempty"`
	Policy      []custody.Step
	PolicySeq   []int64
	Chain       []custody.Verdict
	Verified    map[string]*custody.Verification
}

type savedGrant struct {
	ID, Path, Blob, Invalid string
	Step                    custody.Move
	Seq                     int64
	Digest                  [32]byte // of the bytes verified: the clone must still hold them
}

type savedRemoval struct {
	ID, Commit, Blob string
	At               time.Time
	Added            custody.Move `json:",omitzero"`
	Path             string       `json:",omitempty"`
	Seq              int64        `json:",omitempty"`
}

// sealed is the file: the state and its MAC.
type sealed struct {
	MAC   []byte
	State json.RawMessage
}

func (l *Ledger) mac(state []byte) []byte {
	m := hmac.New(sha256.New, l.cfg.StateKey)
	m.Write([]byte("elevate ledger state\x00"))
	m.Write(state)
	return m.Sum(nil)
}

// save writes the state of x atomically; failing to is only logged.
func (l *Ledger) save(x *Index) {
	if l.cfg.StatePath == "" || len(l.cfg.StateKey) == 0 || x == nil {
		return
	}
	st := savedState{Version: stateVersion, Anchor: l.cfg.Anchor, Branch: l.cfg.Branch, Head: x.Head, Judged: x.Judged, Horizon: x.Horizon, TopSeq: x.topSeq,
		Policy: x.policy, PolicySeq: x.policySeq, Verified: map[string]*custody.Verification{}}
	for _, g := range x.grants {
		st.Grants = append(st.Grants, savedGrant{ID: g.ID, Path: g.Path, Step: g.Step, Blob: g.Blob, Invalid: g.Invalid, Seq: g.Seq, Digest: g.Digest})
	}
	for _, r := range x.removed {
		st.Removed = append(st.Removed, savedRemoval{ID: r.ID, Commit: r.Commit, Blob: r.Blob, At: r.At, Added: r.Added, Path: r.Path, Seq: r.Seq})
	}
	for _, g := range x.emergencies {
		if cur, ok := x.grants[g.ID]; ok && cur.Step.After == g.Step.After {
			continue
		}
		if r, ok := x.removed[g.ID]; ok && r.Added.After == g.Step.After {
			continue
		}
		st.Emergencies = append(st.Emergencies, savedGrant{ID: g.ID, Path: g.Path, Step: g.Step, Blob: g.Blob, Seq: g.Seq})
	}
	st.Chain = x.Chain.Settled()
	l.stateMu.Lock()
	for k, v := range l.verified {
		st.Verified[k] = v
	}
	l.stateMu.Unlock()
	state, err := json.Marshal(st)
	var data []byte
	if err == nil {
		data, err = json.Marshal(sealed{MAC: l.mac(state), State: state})
	}
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
// the same anchor and branch whose MAC holds. Anything amiss means a cold
// start, never an error.
func (l *Ledger) restore(ctx context.Context) *Index {
	if l.cfg.StatePath == "" || len(l.cfg.StateKey) == 0 {
		return nil
	}
	data, err := privfile.ReadPrivate(l.cfg.StatePath, maxStateSize)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.cfg.Logger.Warn("ignoring the saved ledger state", "error", err)
		}
		return nil
	}
	var env sealed
	if err := json.Unmarshal(data, &env); err != nil || !hmac.Equal(env.MAC, l.mac(env.State)) {
		l.cfg.Logger.Warn("ignoring the saved ledger state: its MAC does not hold (written with another --state-key, or edited): starting cold")
		return nil
	}
	var st savedState
	if err := json.Unmarshal(env.State, &st); err != nil || st.Version != stateVersion || st.Anchor != l.cfg.Anchor || st.Branch != l.cfg.Branch {
		l.cfg.Logger.Info("the saved ledger state is for another anchor, branch or version: starting cold")
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
	x := newIndex()
	x.Head, x.Judged, x.Horizon, x.topSeq, x.policy, x.policySeq = st.Head, st.Judged, st.Horizon, st.TopSeq, st.Policy, st.PolicySeq
	if len(x.policy) != len(x.policySeq) {
		return nil, errors.New("policy changes and their order do not match")
	}
	x.Policy, x.PolicyErr = l.policyAt(ctx, st.Head)
	if x.PolicyErr != nil && x.Policy == nil {
		if _, err := l.git.Diff(ctx, st.Head, st.Head, nil, 0); err != nil {
			return nil, fmt.Errorf("the saved head %.12s is not in this repository: %w", st.Head, err)
		}
	}
	if r, ok := l.cfg.Verifier.(interface{ Remember([]custody.Verdict) }); ok {
		r.Remember(st.Chain)
	}
	x.Chain = l.cfg.Verifier.Chain(ctx, x.policy)
	var shas []string
	for _, g := range st.Grants {
		shas = append(shas, g.Blob)
	}
	for _, r := range st.Removed {
		shas = append(shas, r.Blob)
	}
	for _, e := range st.Emergencies {
		shas = append(shas, e.Blob)
	}
	blobs, err := l.git.Blobs(ctx, shas, request.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("read the saved grants: %w", err)
	}
	for i, e := range st.Emergencies {
		if data := blobs[len(st.Grants)+len(st.Removed)+i].Data; data != nil {
			g := &Grant{ID: e.ID, Path: e.Path, Step: e.Step, Seq: e.Seq, Blob: e.Blob}
			g.Request, _ = request.Parse(e.Path, data)
			x.noteEmergency(g)
		}
	}
	for i, r := range st.Removed {
		rm := &Removal{ID: r.ID, Commit: r.Commit, At: r.At, Blob: r.Blob, Added: r.Added, Path: r.Path, Seq: r.Seq}
		if data := blobs[len(st.Grants)+i].Data; data != nil {
			rm.Request, _ = request.Parse("requests/"+r.ID+".yaml", data)
		}
		x.remove(r.ID, rm)
	}
	for i, s := range st.Grants {
		g := &Grant{ID: s.ID, Path: s.Path, Step: s.Step, Blob: s.Blob, Invalid: s.Invalid, Seq: s.Seq}
		if g.Invalid == "" {
			b := blobs[i]
			if b.Data == nil {
				return nil, fmt.Errorf("grant %s: blob %.12s is gone", s.ID, s.Blob)
			}
			g.setContent(b.Data)
			if g.Digest != s.Digest {
				return nil, fmt.Errorf("grant %s: blob %.12s no longer holds the bytes that were verified", s.ID, s.Blob)
			}
		}
		x.add(g.ID, g)
	}
	x.SyncedAt = l.cfg.Now()
	return x, nil
}
