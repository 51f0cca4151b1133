package views

import (
	"fmt"
	"strings"

	"github.com/skip2/go-qrcode"
)

// TOTPEnrolView is the page that turns two-step sign-in on: a QR code, the
// same secret as text for people who cannot scan, and the confirming code.
type TOTPEnrolView struct {
	// Action is where the form posts (the account page's route).
	Action string
	// BackURL leads back to the account page without changing anything.
	BackURL string
	// EnrollmentID, Secret and URI are identity.Enrollment's.
	EnrollmentID string
	Secret       string
	URI          string
	// QR is the URI as a QR code (NewQR).
	QR QR
	// ExpiresInMinutes, when more than 0, says how long the setup stays valid.
	ExpiresInMinutes int
	// Error is a catalog key (the account page maps errors to keys), "" for none.
	Error string
}

// TOTPStartView asks, after the fresh sign-in, to go on turning two-step
// sign-in on; only its POST begins anything.
type TOTPStartView struct {
	Action  string
	BackURL string
	Error   string // catalog key, "" for none
}

// TOTPRemoveView is the confirmation that turns two-step sign-in off.
type TOTPRemoveView struct {
	Action  string
	BackURL string
	Error   string // catalog key, "" for none
}

// RecoveryCodesView shows recovery codes, once, with the way back.
type RecoveryCodesView struct {
	Codes   []string
	DoneURL string
}

// QR is a QR code drawn as one SVG path: inline, so the page needs no
// img-src data: in its Content-Security-Policy.
type QR struct {
	Size int    // modules a side, quiet zone included
	Path string // one 1×1 square per dark module
}

// NewQR draws text (an otpauth:// URI) as a QR code.
func NewQR(text string) (QR, error) {
	code, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return QR{}, fmt.Errorf("views: the QR code cannot be made: %w", err)
	}
	bits := code.Bitmap()
	var b strings.Builder
	for y, row := range bits {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	return QR{Size: len(bits), Path: b.String()}, nil
}

func (q QR) viewBox() string { return fmt.Sprintf("0 0 %d %d", q.Size, q.Size) }

// groupedSecret shows a base32 secret in groups of four, easier to type.
func groupedSecret(s string) string {
	var groups []string
	for len(s) > 4 {
		groups = append(groups, s[:4])
		s = s[4:]
	}
	return strings.Join(append(groups, s), " ")
}
