package githubfake

import (
	"fmt"
	"strconv"
	"strings"
)

// GitHub's pagination defaults.
const (
	defaultPerPage = 30
	maxPerPage     = 100
)

// paginate returns the page of items the request asks for (never nil, so it
// encodes as []) and sets GitHub's Link header: rel="prev", "next", "last"
// and "first" as they apply, with absolute URLs on the fake's host.
func paginate[T any](c *call, items []T) []T {
	q := c.r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = defaultPerPage
	}
	per = min(per, maxPerPage)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	last := max(1, (len(items)+per-1)/per)

	link := func(p int, rel string) string {
		q.Set("page", strconv.Itoa(p))
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, c.f.URL, c.r.URL.EscapedPath(), q.Encode(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(min(page-1, last), "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		c.w.Header().Set("Link", strings.Join(links, ", "))
	}

	start := len(items)
	if page <= last {
		start = min((page-1)*per, len(items))
	}
	end := min(start+per, len(items))
	out := make([]T, 0, end-start)
	return append(out, items[start:end]...)
}
