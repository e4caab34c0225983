package hostsdk

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// execDirPattern names the private directories that hold a verified copy of
// the plugin binary, inside the data directory. Load removes any left
// behind by a host that died without Close.
const execDirPattern = ".pagechat-plugin-exec-*"

// verifiedCopy copies the plugin binary into a new private directory under
// dataDir, hashing the bytes as it copies them, and returns the copy's path
// and directory. The copy is what gets executed: checking the original
// path and then running it would let anyone who can write the plugin's
// directory swap the file in between (security finding #9). Nobody but
// the host's user can reach a 0700 directory, so the bytes hashed are the
// bytes run. The caller removes dir when the process is gone.
func verifiedCopy(pluginPath, dataDir string, want []byte) (path, dir string, err error) {
	private, err := os.MkdirTemp(dataDir, execDirPattern)
	if err != nil {
		return "", "", fmt.Errorf("private directory for the plugin binary: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(private)
		}
	}()
	// MkdirTemp already creates it 0700; say so explicitly, since a
	// looser mode would reopen the race this directory closes.
	if err := os.Chmod(private, 0o700); err != nil {
		return "", "", fmt.Errorf("private directory for the plugin binary: %w", err)
	}
	src, err := os.Open(pluginPath)
	if err != nil {
		return "", "", fmt.Errorf("plugin binary: %w", err)
	}
	defer src.Close()
	path = filepath.Join(private, filepath.Base(pluginPath))
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		return "", "", fmt.Errorf("copy plugin binary: %w", err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(dst, h), src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", fmt.Errorf("copy plugin binary: %w", err)
	}
	if !bytes.Equal(h.Sum(nil), want) {
		return "", "", checksumMismatch(pluginPath)
	}
	return path, private, nil
}

// removeStaleExecDirs deletes private copies left by an earlier host
// process that was killed before it could clean up.
func removeStaleExecDirs(dataDir string) {
	old, _ := filepath.Glob(filepath.Join(dataDir, execDirPattern))
	for _, d := range old {
		_ = os.RemoveAll(d)
	}
}

func checksumMismatch(path string) error {
	return fmt.Errorf("plugin %s was not started: its SHA-256 differs from the configured checksum (replaced or corrupted binary?): %w", path, ErrChecksumMismatch)
}
