package ids

import (
	"strings"
	"testing"
)

func TestIsUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"3f0c1e2a-1b2c-4d5e-8f90-0123456789ab": true,
		"3F0C1E2A-1B2C-4D5E-8F90-0123456789AB": false, // PostgreSQL, Hydra and Kratos print lower case
		"3f0c1e2a1b2c4d5e8f900123456789ab":     false,
		"3f0c1e2a-1b2c-4d5e-8f90-0123456789a":  false,
		"' OR 1=1 --":                          false,
		"":                                     false,
	} {
		if IsUUID(s) != want {
			t.Errorf("IsUUID(%q) = %v", s, !want)
		}
	}
}

func FuzzIsUUID(f *testing.F) {
	f.Add("3f0c1e2a-1b2c-4d5e-8f90-0123456789ab")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if IsUUID(s) && (len(s) != 36 || strings.Trim(s, "0123456789abcdef-") != "") {
			t.Fatalf("validUUID accepted %q", s)
		}
	})
}
