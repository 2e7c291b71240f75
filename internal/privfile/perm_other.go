//go:build !unix

package privfile

import "os"

const EnforceModes = false

const OpenNoFollow = 0

func CheckOwner(os.FileInfo) error { return nil }

func CheckPrivate(os.FileInfo) error { return nil }
