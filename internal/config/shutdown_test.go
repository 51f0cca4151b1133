package config

import (
	"strings"
	"testing"
	"time"
)

func TestShutdownDelay(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil || c.ShutdownDelay != 5*time.Second {
		t.Fatalf("default SHUTDOWN_DELAY: %v %v", c.ShutdownDelay, err)
	}
	m := valid()
	for value, want := range map[string]time.Duration{"0": 0, "2s": 2 * time.Second, "10": 10 * time.Second} {
		m["SHUTDOWN_DELAY"] = value
		if c, err := Load(env(m)); err != nil || c.ShutdownDelay != want {
			t.Errorf("SHUTDOWN_DELAY=%s: %v %v, want %v", value, c.ShutdownDelay, err, want)
		}
	}
	for _, bad := range []string{"-1s", "2m", "soon"} {
		m["SHUTDOWN_DELAY"] = bad
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "SHUTDOWN_DELAY:") {
			t.Errorf("SHUTDOWN_DELAY=%s: %v", bad, err)
		}
	}
}
