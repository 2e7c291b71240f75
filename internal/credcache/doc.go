// Package credcache is the CLI's cache of issued AWS credentials.
//
// `elevate credentials` runs as an AWS credential_process, possibly many
// times in parallel. Each issuance is kept in its own file under the user's
// cache directory (os.UserCacheDir()/elevate/credentials) until Margin
// (5 minutes) before the credentials expire, so the AWS CLI always receives
// credentials with at least that long to live and the broker is asked again
// only when they are about to run out.
//
// A file's name is the hex SHA-256 of its Key's canonical JSON; the Key holds
// a UserHint (a hash prefix of the GitHub token) so two GitHub identities on
// one machine never share entries. Files are written 0600 to a temporary
// file in the same directory and renamed into place, so a reader sees the
// old entry, the new one, or none, never a partial file. The directory is
// 0700 and a Put refuses a directory that is a symlink or belongs to another
// user.
//
// Get fails closed: an absent, unreadable, corrupted, foreign-owned or
// group/other-accessible file, one recorded under another key, or
// credentials within Margin of expiry (or past the grant's window end) are a
// miss, never a stale entry. The caller then asks the broker and Puts the
// answer, which repairs the file.
//
// On non-Unix systems the ownership and mode checks are skipped; the files
// are still written atomically.
package credcache
