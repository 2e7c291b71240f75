package githubfake

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"
)

// activity is one entry of the repository's activity, as
// GET /repos/{owner}/{repo}/activity lists it. It is declared again here,
// not taken from githubapi, so that a wrong field in the client's copy shows
// against GitHub's documented shape instead of hiding on both sides.
type activity struct {
	ID           int64            `json:"id"`
	NodeID       string           `json:"node_id"`
	Before       string           `json:"before"`
	After        string           `json:"after"`
	Ref          string           `json:"ref"`
	Timestamp    github.Timestamp `json:"timestamp"`
	ActivityType string           `json:"activity_type"`
	Actor        *github.User     `json:"actor"`
}

// Move records in the repository's activity that branch moved to after,
// from wherever its last recorded move left it, as GitHub records a push,
// force push, pull request merge, merge-queue merge, branch creation or
// deletion (kind: githubapi's activity types). A creation moves from no
// commit; a deletion moves to none.
func (f *Fake) Move(kind, branch, after string, at time.Time, actor *github.User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	before := zeroSHA
	for i := len(f.repo.activity) - 1; i >= 0; i-- {
		if a := f.repo.activity[i]; a.Ref == "refs/heads/"+branch {
			before = a.After
			break
		}
	}
	if kind == "branch_creation" {
		before = zeroSHA
	}
	if kind == "branch_deletion" {
		after = zeroSHA
	}
	f.record(kind, branch, before, after, at, actor)
}

// ForcePush records a force push of branch from before to after by actor at
// the given time, as GitHub's repository activity shows it.
func (f *Fake) ForcePush(branch, before, after string, at time.Time, actor *github.User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("force_push", branch, before, after, at, actor)
}

// RecordActivity records one entry exactly as given, before included.
func (f *Fake) RecordActivity(kind, branch, before, after string, at time.Time, actor *github.User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(kind, branch, before, after, at, actor)
}

// Unrecord takes the moves to after out of the activity, as a record
// GitHub has not written yet.
func (f *Fake) Unrecord(after string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.repo.activity = slices.DeleteFunc(f.repo.activity, func(a activity) bool { return a.After == after })
}

const zeroSHA = "0000000000000000000000000000000000000000"

func (f *Fake) record(kind, branch, before, after string, at time.Time, actor *github.User) {
	id := f.id()
	f.repo.activity = append(f.repo.activity, activity{
		ID: id, NodeID: fmt.Sprintf("RA_%d", id), Before: before, After: after,
		Ref: "refs/heads/" + branch, Timestamp: github.Timestamp{Time: at.UTC()},
		ActivityType: kind, Actor: clone(actor),
	})
}

// ActivityHead is where the last recorded move of branch left it ("" when
// none is recorded).
func (f *Fake) ActivityHead(branch string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.repo.activity) - 1; i >= 0; i-- {
		if a := f.repo.activity[i]; a.Ref == "refs/heads/"+branch {
			return a.After
		}
	}
	return ""
}

// listActivity serves GET /repos/{owner}/{repo}/activity, newest first
// (direction=asc: oldest first), filtered by ref and activity_type, paged by
// an opaque "after" cursor in the Link header as GitHub does.
func (f *Fake) listActivity(c *call) {
	q := c.r.URL.Query()
	var out []activity
	for i := len(f.repo.activity) - 1; i >= 0; i-- {
		a := f.repo.activity[i]
		if q.Get("direction") == "asc" {
			a = f.repo.activity[len(f.repo.activity)-1-i]
		}
		if ref := q.Get("ref"); ref != "" && a.Ref != ref && a.Ref != "refs/heads/"+ref {
			continue
		}
		if t := q.Get("activity_type"); t != "" && a.ActivityType != t {
			continue
		}
		out = append(out, a)
	}
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = defaultPerPage
	}
	per = min(per, maxPerPage)
	start := 0
	if cur := q.Get("after"); cur != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cur)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "cursor:"))
		if err != nil || err2 != nil || n < 0 || n > len(out) {
			c.error(http.StatusUnprocessableEntity, "Invalid cursor")
			return
		}
		start = n
	}
	end := min(start+per, len(out))
	if end < len(out) {
		q.Set("after", base64.RawURLEncoding.EncodeToString([]byte("cursor:"+strconv.Itoa(end))))
		c.w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, c.f.URL, c.r.URL.EscapedPath(), q.Encode()))
	}
	page := make([]activity, 0, end-start)
	c.json(http.StatusOK, append(page, out[start:end]...))
}
