// Package contact parses and masks the identifiers people sign in with: an
// email address or a phone number.
package contact

import (
	"errors"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Errors a parser returns; each maps to a message next to its field.
var (
	ErrEmail        = errors.New("contact: not an email address")
	ErrPhone        = errors.New("contact: not a phone number")
	ErrCountry      = errors.New("contact: phone numbers of this country are not supported")
	ErrNotMobileish = errors.New("contact: not a number that can receive messages")
)

// Email returns the address in lower case, or ErrEmail. It accepts only a bare
// address (no display name, no comments), at most 254 characters.
func Email(input string) (string, error) {
	s := strings.TrimSpace(input)
	if s == "" || len(s) > 254 || !utf8.ValidString(s) || strings.ContainsAny(s, " <>\"(),;:\\[]") {
		return "", ErrEmail
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", ErrEmail
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", ErrEmail
	}
	return strings.ToLower(s), nil
}

// Phone parses a number typed with or without its country code (region is the
// ISO code chosen in the form, used when the number has no "+"). It returns
// the number in E.164 form and its region, refusing regions not in allowed.
func Phone(input, region string, allowed []string) (e164, numberRegion string, err error) {
	s := strings.TrimSpace(input)
	if s == "" || len(s) > 32 || !utf8.ValidString(s) {
		return "", "", ErrPhone
	}
	num, perr := phonenumbers.Parse(s, strings.ToUpper(region))
	if perr != nil || !phonenumbers.IsValidNumber(num) {
		return "", "", ErrPhone
	}
	numberRegion = phonenumbers.GetRegionCodeForNumber(num)
	ok := false
	for _, a := range allowed {
		if strings.EqualFold(a, numberRegion) {
			ok = true
		}
	}
	if !ok {
		return "", numberRegion, ErrCountry
	}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.FIXED_LINE, phonenumbers.PREMIUM_RATE, phonenumbers.SHARED_COST, phonenumbers.TOLL_FREE, phonenumbers.VOICEMAIL, phonenumbers.PAGER, phonenumbers.UAN:
		return "", numberRegion, ErrNotMobileish
	}
	return phonenumbers.Format(num, phonenumbers.E164), numberRegion, nil
}

// CountryCode returns the calling code of an ISO region ("SV" → 503), or 0.
func CountryCode(region string) int {
	return phonenumbers.GetCountryCodeForRegion(strings.ToUpper(region))
}

// Mask masks an email address or an E.164 number, whichever it is.
func Mask(identifier string) string {
	if strings.Contains(identifier, "@") {
		return MaskEmail(identifier)
	}
	return MaskPhone(identifier)
}

// MaskEmail shows the first letter and the domain: "j•••@gmail.com".
func MaskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "•••"
	}
	first, _ := utf8.DecodeRuneInString(local)
	return string(first) + "•••@" + domain
}

// MaskPhone shows the last four digits: "•••• 1234".
func MaskPhone(e164 string) string {
	if len(e164) < 4 {
		return "••••"
	}
	return "•••• " + e164[len(e164)-4:]
}
