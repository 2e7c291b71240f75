//go:build unix

package ghauth

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/elevate-gitops/elevate/internal/privfile"
)

// lockPoll is how often a waiting lockFile tries again.
const lockPoll = 20 * time.Millisecond

// lockFile takes an exclusive flock on the file at p (created 0600, never
// through a symlink) and waits for it until ctx is done. The lock goes
// with the process: one that dies holding it frees it.
func lockFile(ctx context.Context, p string) (unlock func(), err error) {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|privfile.OpenNoFollow, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, errors.New("another elevate is renewing the login and has not finished")
		case <-time.After(lockPoll):
		}
	}
}
