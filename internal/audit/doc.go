// Package audit builds the audit trail of the access repository: every
// request file merged on the default branch in a period, its window and
// state, who revoked it, and, when a GitHub source is given, the pull request
// that merged it and who approved it.
//
// Online (with a PRSource), Build reads what GitHub recorded of the branch
// since the trust anchor (default: the branch's first commit): the moves of
// its repository activity, each judged by the trees at its two ends in the
// local checkout and dated by GitHub, exactly as the broker reads them, so
// the period is selected by GitHub's times and never by a date a commit
// claims. It adds, per merge, the pull request whose merge_commit_sha is
// that commit and the APPROVED reviews on it; an error from GitHub fails
// Build rather than leaving the audit silently incomplete. Offline it reads
// the checkout's first-parent history, dated by the commits themselves,
// which the report says. It never fetches.
//
// A Report renders as aligned text (Table), CSV, indented JSON and one
// self-contained HTML page with no external resources and no JavaScript.
//
// Decisions where the product contract is silent (also in docs/audit.md):
//   - Entries are the request files added (or, by a direct push, edited) on
//     the branch in the period, newest first, plus grants merged earlier and
//     revoked in the period (their window was still open when the file was
//     deleted). Deleting a file whose window was already over is clean-up,
//     not a revocation: such an entry stays "expired" with RevokedAt set,
//     and the clean-up of a file merged before the period is not listed.
//   - An edit of a request file supersedes the earlier version: the earlier
//     entry is ended at the edit commit (RevokedAt) and the edit is a new entry.
//   - A file that does not parse, or whose account is not its folder, has
//     State "invalid": it never granted anything.
//   - Totals count the valid grants merged in the period; Hours is the length
//     of each window, cut short by a revocation.
package audit
