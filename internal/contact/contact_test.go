package contact

import (
	"strings"
	"testing"
)

func TestEmail(t *testing.T) {
	for in, want := range map[string]string{"Maria@Example.COM": "maria@example.com", " a.b+c@blink.sv ": "a.b+c@blink.sv"} {
		if got, err := Email(in); err != nil || got != want {
			t.Errorf("Email(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "maria", "maria@", "@x.com", "maria@localhost", "Maria <m@x.com>", "m@x.com, n@y.com", "m @x.com", "m@.com", "m@x.", strings.Repeat("a", 250) + "@x.com", "m@x.com\r\nBcc: z@y.com"} {
		if _, err := Email(in); err == nil {
			t.Errorf("Email(%q) accepted", in)
		}
	}
}

func TestPhone(t *testing.T) {
	allowed := []string{"SV", "US"}
	for _, tc := range []struct{ in, region, want, wantRegion string }{
		{"7012 3456", "SV", "+50370123456", "SV"},
		{"+503 7012-3456", "US", "+50370123456", "SV"},
		{"(201) 555-0123", "US", "+12015550123", "US"},
	} {
		got, region, err := Phone(tc.in, tc.region, allowed)
		if err != nil || got != tc.want || region != tc.wantRegion {
			t.Errorf("Phone(%q, %s) = %q %q %v", tc.in, tc.region, got, region, err)
		}
	}
	for _, tc := range []struct {
		in, region string
		want       error
	}{
		{"", "SV", ErrPhone},
		{"12", "SV", ErrPhone},
		{"not a number", "SV", ErrPhone},
		{"+44 7400 123456", "SV", ErrCountry},
		{"2222 3333", "SV", ErrNotMobileish}, // a Salvadoran fixed line
	} {
		if _, _, err := Phone(tc.in, tc.region, allowed); err != tc.want {
			t.Errorf("Phone(%q) error %v, want %v", tc.in, err, tc.want)
		}
	}
}

func TestMasks(t *testing.T) {
	if got := MaskEmail("juan@gmail.com"); got != "j•••@gmail.com" {
		t.Errorf("MaskEmail = %q", got)
	}
	if got := MaskPhone("+50370123456"); got != "•••• 3456" {
		t.Errorf("MaskPhone = %q", got)
	}
	if CountryCode("sv") != 503 {
		t.Error("CountryCode(sv)")
	}
}

func FuzzEmail(f *testing.F) {
	for _, s := range []string{"a@b.co", "Maria <m@x.com>", "", "a@b@c.d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Email(in)
		if err != nil {
			return
		}
		if out != strings.ToLower(out) || strings.ContainsAny(out, " \r\n<>") || strings.Count(out, "@") != 1 {
			t.Fatalf("Email(%q) = %q", in, out)
		}
	})
}

func FuzzPhone(f *testing.F) {
	for _, s := range []string{"7012 3456", "+503 7012 3456", "+1 201 555 0123", "", "++"} {
		f.Add(s, "SV")
	}
	f.Fuzz(func(t *testing.T, in, region string) {
		out, r, err := Phone(in, region, []string{"SV", "US"})
		if err != nil {
			return
		}
		if !strings.HasPrefix(out, "+") || len(out) < 8 || len(out) > 16 || (r != "SV" && r != "US") {
			t.Fatalf("Phone(%q, %q) = %q %q", in, region, out, r)
		}
	})
}
