package awsprofile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MaxSize bounds the config file elevate reads: an AWS config file is a
// few kilobytes.
const MaxSize = 1 << 20

// File is an AWS config file as Read found it.
type File struct {
	Path   string // as given
	Name   string // what messages call it
	Data   []byte // empty when the file does not exist
	Exists bool
	target string // what is written: Path with its symlinks followed
	mode   fs.FileMode
}

// Read reads the AWS config file at path, which messages call name ("":
// path). A missing file reads as empty; a symlink is followed (Write
// replaces the file it points to, so a config file kept elsewhere stays
// there).
func Read(path, name string) (*File, error) {
	if name == "" {
		name = path
	}
	f := &File{Path: path, Name: name, target: path}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return f, nil
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w: point it at a file, or set AWS_CONFIG_FILE to your AWS config file", name, err)
	}
	f.target = target
	file, err := os.Open(target)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file: set AWS_CONFIG_FILE to your AWS config file", name)
	}
	if fi.Size() > MaxSize {
		return nil, tooLarge(name, fi.Size())
	}
	data, err := io.ReadAll(io.LimitReader(file, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > MaxSize {
		return nil, tooLarge(name, int64(len(data)))
	}
	f.Data, f.Exists, f.mode = data, true, fi.Mode().Perm()
	return f, nil
}

func tooLarge(path string, size int64) error {
	return fmt.Errorf("%s is %d bytes, over the %d (1 MiB) elevate edits: an AWS config file is a few kilobytes; set AWS_CONFIG_FILE to yours", path, size, MaxSize)
}

// Write replaces the file's contents with data atomically: a temporary
// file in the same directory, renamed over it. The file keeps its mode; a
// new file gets 0600, in a directory created 0700 when missing. A file
// changed since Read is left alone (an error says to run again).
func (f *File) Write(data []byte) (err error) {
	dir := filepath.Dir(f.target)
	mode := f.mode
	if !f.Exists {
		mode = 0o600
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.target)+".elevate-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Name, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", f.Name, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", f.Name, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", f.Name, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.Name, err)
	}
	if err = f.unchanged(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), f.target); err != nil {
		return fmt.Errorf("write %s: %w", f.Name, err)
	}
	if d, err := os.Open(dir); err == nil { // the rename itself, on disk
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// unchanged refuses to write over a file that changed since Read.
func (f *File) unchanged() error {
	now, err := os.ReadFile(f.target)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !f.Exists:
		return nil
	case err == nil && f.Exists && bytes.Equal(now, f.Data):
		return nil
	}
	return fmt.Errorf("%s changed while elevate was editing it: nothing written; run the command again", f.Name)
}
