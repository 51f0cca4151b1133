// Package contact parses and masks the identifiers people sign in with: an
// email address or a phone number.
package contact

import (
	"errors"
	"net/mail"
	"strconv"
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

// Example is a mobile number of region as its people write it ("7012 3456"
// for SV), for the phone form's hint; "" when the library has none.
func Example(region string) string {
	num := phonenumbers.GetExampleNumberForType(strings.ToUpper(region), phonenumbers.MOBILE)
	if num == nil {
		return ""
	}
	return phonenumbers.Format(num, phonenumbers.NATIONAL)
}

// MobileDigits is how many digits a mobile number of region has, without
// its country code (8 for SV), when that is one number: 0 when the library
// knows no example or a mobile number there may be longer or shorter (tried
// by shortening and lengthening the example), so the form never asks for a
// length that is not the rule.
func MobileDigits(region string) int {
	region = strings.ToUpper(region)
	num := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE)
	if num == nil {
		return 0
	}
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	prefix := "+" + strconv.Itoa(int(num.GetCountryCode()))
	for n := 4; n <= 15; n++ {
		if n == len(nsn) {
			continue
		}
		trial := nsn
		if n < len(nsn) {
			trial = nsn[:n]
		} else {
			trial += strings.Repeat(nsn[len(nsn)-1:], n-len(nsn))
		}
		t, err := phonenumbers.Parse(prefix+trial, region)
		if err == nil && phonenumbers.IsValidNumberForRegion(t, region) {
			switch phonenumbers.GetNumberType(t) {
			case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
				return 0
			}
		}
	}
	return len(nsn)
}

// NationalDigits counts the digits of a number typed for region, without
// its country code when it was typed with one.
func NationalDigits(input, region string) int {
	if num, err := phonenumbers.Parse(strings.TrimSpace(input), strings.ToUpper(region)); err == nil {
		return len(phonenumbers.GetNationalSignificantNumber(num))
	}
	n := 0
	for _, r := range input {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
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
