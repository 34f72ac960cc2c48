package bisect

import "os"

func statExists(p string) bool { _, err := os.Stat(p); return err == nil }
