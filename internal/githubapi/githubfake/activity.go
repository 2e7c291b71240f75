package githubfake

import (
	"encoding/base64"
	"fmt"
	"net/http"
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

// ForcePush records a force push of branch from before to after by actor at
// the given time, as GitHub's repository activity shows it.
func (f *Fake) ForcePush(branch, before, after string, at time.Time, actor *github.User) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.id()
	f.repo.activity = append(f.repo.activity, activity{
		ID: id, NodeID: fmt.Sprintf("RA_%d", id), Before: before, After: after,
		Ref: "refs/heads/" + branch, Timestamp: github.Timestamp{Time: at.UTC()},
		ActivityType: "force_push", Actor: clone(actor),
	})
}

// listActivity serves GET /repos/{owner}/{repo}/activity, newest first,
// filtered by ref and activity_type, paged by an opaque "after" cursor in
// the Link header as GitHub does.
func (f *Fake) listActivity(c *call) {
	q := c.r.URL.Query()
	var out []activity
	for i := len(f.repo.activity) - 1; i >= 0; i-- {
		a := f.repo.activity[i]
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
