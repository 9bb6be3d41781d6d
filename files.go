package caddyjwt

import (
	"fmt"
	"io"
	"os"
)

// Bounds of the files a configuration names; each is read whole.
const (
	maxLoginPageBytes = 1 << 20  // a page template
	maxKeyFileBytes   = 1 << 20  // a PEM key
	maxUsersFileBytes = 64 << 20 // a users file: about a million bcrypt users
)

// readConfigFile reads a file the configuration names: a regular file of
// at most max bytes. A device such as /dev/zero would otherwise be read
// until memory runs out, and opening a FIFO would block for ever.
func readConfigFile(file string, max int64) ([]byte, error) {
	info, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", file)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d KiB", file, max>>10)
	}
	return data, nil
}
