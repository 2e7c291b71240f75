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
// an opaque "after" cursor in the Link header as GitHub does. The cursor is
// where the page ended in the whole record, so a page costs its own
// entries, however long the record.
func (f *Fake) listActivity(c *call) {
	q := c.r.URL.Query()
	all := f.repo.activity
	at := func(i int) activity {
		if q.Get("direction") == "asc" {
			return all[i]
		}
		return all[len(all)-1-i]
	}
	match := func(a activity) bool {
		if ref := q.Get("ref"); ref != "" && a.Ref != ref && a.Ref != "refs/heads/"+ref {
			return false
		}
		t := q.Get("activity_type")
		return t == "" || a.ActivityType == t
	}
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = defaultPerPage
	}
	per = min(per, maxPerPage)
	i := 0
	if cur := q.Get("after"); cur != "" {
		raw, err := base64.RawURLEncoding.DecodeString(cur)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), "cursor:"))
		if err != nil || err2 != nil || n < 0 || n > len(all) {
			c.error(http.StatusUnprocessableEntity, "Invalid cursor")
			return
		}
		i = n
	}
	page := []activity{}
	for ; i < len(all) && len(page) < per; i++ {
		if a := at(i); match(a) {
			page = append(page, a)
		}
	}
	more := false
	for j := i; j < len(all) && !more; j++ {
		more = match(at(j))
	}
	if more {
		q.Set("after", base64.RawURLEncoding.EncodeToString([]byte("cursor:"+strconv.Itoa(i))))
		c.w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, c.f.URL, c.r.URL.EscapedPath(), q.Encode()))
	}
	c.json(http.StatusOK, page)
}
