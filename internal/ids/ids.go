// Package ids checks ids that arrive from outside — a flow id in a form, a
// Hydra subject, a CLI argument, an id Blink core answers — before they reach
// a query or a token.
package ids

// IsUUID reports whether s is a UUID in the canonical lower-case 8-4-4-4-12
// form that PostgreSQL, Hydra and Kratos print.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
