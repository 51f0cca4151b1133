package account

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// twoStepEnv is a page with a two-step source and ana signed in at authTime.
func twoStepEnv(t *testing.T, recovery bool, authTime time.Time) (*env, *fakeTOTP, *browser) {
	e := newEnv(t)
	f := e.withTOTP(recovery)
	e.store.users["ana"] = store.User{ID: "ana", Email: "ana@example.com"}
	b := e.browser("203.0.113.7")
	b.signIn("ana", "sid-ana", authTime)
	f.calls, f.who = nil, nil // the page load after the sign-in read the status
	return e, f, b
}

func (e *env) recovery() *fakeRecoveryTOTP { return e.deps.TOTP.(*fakeRecoveryTOTP) }

func TestTwoStepSectionSaysWhatTheSourceSays(t *testing.T) {
	e, f, b := twoStepEnv(t, true, time.Now())
	b.lang = i18n.Spanish
	w := b.get("/account")
	if w.Code != http.StatusOK || !strings.Contains(text(w), i18n.Spanish.T("account.twostep.off")) || !strings.Contains(text(w), i18n.Spanish.T("account.twostep.turn_on")) {
		t.Errorf("off: the section does not say so\n%s", text(w))
	}
	want := identity.Who{Subject: "ana", SessionID: "sid-ana", IP: "203.0.113.7", Lang: i18n.Spanish}
	if len(f.who) == 0 || f.who[0] != want {
		t.Errorf("the source was asked for %+v, want %+v", f.who, want)
	}
	b.lang = ""
	f.on["ana"], e.recovery().left = true, 7
	w = b.get("/account")
	if !says(w, "account.twostep.on") || !says(w, "account.recovery.left", 7) || !says(w, "account.twostep.turn_off") {
		t.Error("on: the section does not say so, or not how many recovery codes are left")
	}
	f.err["TOTPStatus"] = identity.ErrFreshSignIn
	if w := b.get("/account"); w.Code != http.StatusOK || !says(w, "account.twostep.needs_sign_in") || !says(w, "account.twostep.sign_in_again") {
		t.Error("a Blink session without a core token: the section does not offer a new sign-in")
	}
	f.err["TOTPStatus"] = identity.ErrUnavailable
	if w := b.get("/account"); w.Code != http.StatusOK || !says(w, "account.twostep.unavailable") || !says(w, "account.activity.title") {
		t.Error("the source down: the section does not say so, or the rest of the page is gone")
	}
	if f.changes() != 0 {
		t.Errorf("showing the page changed something: %v", f.calls)
	}

	e.deps.TOTP = nil
	if w := b.get("/account"); w.Code != http.StatusOK || says(w, "account.twostep.title") {
		t.Error("without a two-step source the section is shown")
	}
}

// Each two-step change needs a sign-in made within FreshFor: a stale one is
// sent to sign in again with prompt=login and max_age=0, nothing is asked of
// the source, and the fresh sign-in comes back to a page that asks again.
func TestTwoStepChangesWithAStaleSignInChangeNothing(t *testing.T) {
	for _, c := range []struct {
		method, path, action string
		returnTo             string
	}{
		{"POST", "/account/two-step", "enable_totp", twoStepOnURL},
		{"POST", "/account/two-step", "confirm_totp", twoStepOnURL},
		{"POST", "/account/two-step", "remove_totp", twoStepOffURL},
		{"POST", "/account/two-step", "new_recovery_codes", recoveryURL},
		{"POST", "/account/two-step", "sign_in_again", "/account"},
		{"GET", twoStepOffURL, "", twoStepOffURL},
		{"GET", recoveryURL, "", recoveryURL},
	} {
		name := c.path + " " + c.action
		e, f, b := twoStepEnv(t, true, time.Now().Add(-FreshFor-time.Minute))
		f.on["ana"] = true
		form := url.Values{"action": {c.action}, "enrollment": {f.enrolment.ID}, "code": {f.rightCode}}
		w := b.request(c.method, c.path, form)
		auth, _ := url.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusSeeOther || auth.Query().Get("prompt") != "login" || auth.Query().Get("max_age") != "0" {
			t.Errorf("%s: %d to %q, want a sign-in with prompt=login&max_age=0", name, w.Code, auth)
			continue
		}
		if f.changes() != 0 || !f.on["ana"] || e.recovery().left != 0 {
			t.Errorf("%s: the source was asked %v before the fresh sign-in", name, f.calls)
		}
		b.finishSignIn(auth.String(), "ana", "sid-ana-2", time.Now(), c.returnTo)
		if f.changes() != 0 {
			t.Errorf("%s: the fresh sign-in changed something by itself: %v", name, f.calls)
		}
	}

	// The turn-on page that the fresh sign-in comes back to only asks.
	_, f, b := twoStepEnv(t, false, time.Now().Add(-time.Hour))
	if w := b.get(twoStepOnURL); w.Code != http.StatusOK || !says(w, "account.twostep.turn_on") || f.changes() != 0 {
		t.Errorf("GET %s: %d, changes %v", twoStepOnURL, w.Code, f.calls)
	}
}

func TestTurningOnShowsTheEnrolmentAndSavesOnlyWithTheRightCode(t *testing.T) {
	e, f, b := twoStepEnv(t, true, time.Now())
	w := b.post("/account/two-step", url.Values{"action": {"enable_totp"}})
	if w.Code != http.StatusOK {
		t.Fatalf("enable_totp: %d", w.Code)
	}
	page := text(w)
	for _, want := range []string{f.enrolment.URI, f.enrolment.Secret, `value="enr-1"`, `autocomplete="one-time-code"`, `<svg class="qr"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the enrol page does not show %q", want)
		}
	}
	if !slices.Equal(f.calls, []string{"BeginTOTP"}) || f.who[0].Subject != "ana" || f.who[0].SessionID != "sid-ana" {
		t.Errorf("the source was asked %v for %+v", f.calls, f.who)
	}

	// A wrong code: the same enrolment again, nothing saved. The URI and
	// validity come back from the form for display only, checked.
	w = b.post("/account/two-step", url.Values{"action": {"confirm_totp"}, "enrollment": {"enr-1"}, "code": {"000000"},
		"uri": {f.enrolment.URI}, "secret": {f.enrolment.Secret}, "expires_in": {"9"}})
	if w.Code != http.StatusUnprocessableEntity || !says(w, "account.totp.error.wrong_code") || !strings.Contains(text(w), f.enrolment.URI) || f.on["ana"] {
		t.Errorf("a wrong code: %d, on %v", w.Code, f.on["ana"])
	}
	w = b.post("/account/two-step", url.Values{"action": {"confirm_totp"}, "enrollment": {"enr-1"}, "code": {"000000"},
		"uri": {"javascript:alert(1)"}, "expires_in": {"999"}})
	if strings.Contains(text(w), "javascript:") || w.Code != http.StatusUnprocessableEntity {
		t.Errorf("an edited URI is shown back: %d", w.Code)
	}
	// An enrolment id of another (or expired) enrolment.
	w = b.post("/account/two-step", url.Values{"action": {"confirm_totp"}, "enrollment": {"enr-of-bob"}, "code": {f.rightCode}})
	if w.Code != http.StatusGone || !says(w, "account.totp.error.expired") || f.on["ana"] {
		t.Errorf("another enrolment: %d, on %v", w.Code, f.on["ana"])
	}

	// The right code: on, with the ten recovery codes shown once, never cached.
	w = b.post("/account/two-step", url.Values{"action": {"confirm_totp"}, "enrollment": {"enr-1"}, "code": {f.rightCode}})
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" || !f.on["ana"] {
		t.Fatalf("the right code: %d, Cache-Control %q, on %v", w.Code, w.Header().Get("Cache-Control"), f.on["ana"])
	}
	for _, c := range tenCodes {
		if !strings.Contains(text(w), c) {
			t.Errorf("recovery code %s not shown", c)
		}
	}
	if !strings.Contains(text(w), "/account?done=totp_on") || e.recovery().left != 10 {
		t.Error("the codes page does not lead back to the account page")
	}
	if w := b.get("/account?done=totp_on"); !says(w, "account.done.totp_on") {
		t.Error("the page does not say two-step sign-in is on")
	}
}

// Blink core keeps no recovery codes: the right code goes straight back.
func TestTurningOnWithBlinkCoreGoesBackToThePage(t *testing.T) {
	e, f, b := twoStepEnv(t, false, time.Now())
	e.deps.Settings.CanNotify = func(string) bool { return false } // no sender of ours
	w := b.post("/account/two-step", url.Values{"action": {"confirm_totp"}, "enrollment": {"enr-1"}, "code": {f.rightCode}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account?done=totp_on" || !slices.Equal(f.calls, []string{"ConfirmTOTP"}) || !f.on["ana"] {
		t.Errorf("confirm with Blink core: %d to %q, calls %v", w.Code, w.Header().Get("Location"), f.calls)
	}
	if w := b.get("/account?done=totp_on"); !says(w, "account.done.totp_on_untold") || says(w, "account.done.totp_on") {
		t.Error("the page says the person was told when no sender serves them")
	}
	// No recovery codes with this source.
	if w := b.get(recoveryURL); w.Code != http.StatusNotFound {
		t.Errorf("GET %s with Blink core: %d", recoveryURL, w.Code)
	}
	if w := b.post("/account/two-step", url.Values{"action": {"new_recovery_codes"}}); w.Code != http.StatusNotFound {
		t.Errorf("new_recovery_codes with Blink core: %d", w.Code)
	}
}

func TestTurningOffAndNewRecoveryCodes(t *testing.T) {
	e, f, b := twoStepEnv(t, true, time.Now())
	f.on["ana"] = true
	if w := b.get(twoStepOffURL); w.Code != http.StatusOK || !says(w, "account.twostep.turn_off") || f.changes() != 0 {
		t.Errorf("GET %s: %d, calls %v", twoStepOffURL, w.Code, f.calls)
	}
	if w := b.get(recoveryURL); w.Code != http.StatusOK || f.changes() != 0 {
		t.Errorf("GET %s: %d, calls %v", recoveryURL, w.Code, f.calls)
	}
	w := b.post("/account/two-step", url.Values{"action": {"new_recovery_codes"}})
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" || !strings.Contains(text(w), tenCodes[9]) ||
		!strings.Contains(text(w), "/account?done=recovery_new") || e.recovery().left != 10 {
		t.Errorf("new recovery codes: %d", w.Code)
	}
	w = b.post("/account/two-step", url.Values{"action": {"remove_totp"}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/account?done=totp_off" || f.on["ana"] {
		t.Errorf("remove_totp: %d to %q, on %v", w.Code, w.Header().Get("Location"), f.on["ana"])
	}
	if w := b.get("/account?done=totp_off"); !says(w, "account.done.totp_off") {
		t.Error("the page does not say two-step sign-in is off")
	}
	// A second tab: already off.
	w = b.post("/account/two-step", url.Values{"action": {"remove_totp"}})
	if w.Header().Get("Location") != "/account?done=totp_already_off" {
		t.Errorf("a second removal: to %q", w.Header().Get("Location"))
	}
	if w := b.get("/account?done=totp_already_off"); !says(w, "account.totp.error.already_off") {
		t.Error("the page does not say it already was off")
	}
	if w := b.post("/account/two-step", url.Values{"action": {"new_recovery_codes"}}); w.Header().Get("Location") != "/account?done=totp_already_off" {
		t.Errorf("new codes with two-step off: to %q", w.Header().Get("Location"))
	}
	if w := b.post("/account/two-step", url.Values{"action": {"turn_everything_off"}}); w.Code != http.StatusBadRequest {
		t.Errorf("an unknown action: %d", w.Code)
	}
}

// Every error of the source has its page and message (totpErrorKey), in
// English and Spanish; a Blink session without a core token signs in again
// and comes back to the page of the change.
func TestTwoStepSourceErrorsHaveTheirPages(t *testing.T) {
	boom := errors.New("core answered 502")
	for _, c := range []struct {
		action, method string
		err            error
		code           int
		key, location  string
	}{
		{"enable_totp", "BeginTOTP", identity.ErrTOTPOn, http.StatusSeeOther, "", "/account?done=totp_already_on"},
		{"enable_totp", "BeginTOTP", identity.ErrNotFound, http.StatusNotFound, "account.totp.error.not_found", ""},
		{"enable_totp", "BeginTOTP", boom, http.StatusServiceUnavailable, "account.totp.error.unavailable", ""},
		{"confirm_totp", "ConfirmTOTPWithRecoveryCodes", identity.ErrEnrollmentGone, http.StatusGone, "account.totp.error.expired", ""},
		{"confirm_totp", "ConfirmTOTPWithRecoveryCodes", identity.ErrTOTPOn, http.StatusSeeOther, "", "/account?done=totp_already_on"},
		{"confirm_totp", "ConfirmTOTPWithRecoveryCodes", boom, http.StatusServiceUnavailable, "account.totp.error.unavailable", ""},
		{"remove_totp", "RemoveTOTP", identity.ErrNotFound, http.StatusNotFound, "account.totp.error.not_found", ""},
		{"remove_totp", "RemoveTOTP", identity.ErrUnavailable, http.StatusServiceUnavailable, "account.totp.error.unavailable", ""},
		{"new_recovery_codes", "NewRecoveryCodes", boom, http.StatusServiceUnavailable, "account.totp.error.unavailable", ""},
	} {
		for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
			name := c.action + " " + c.err.Error() + " " + string(lang)
			_, f, b := twoStepEnv(t, true, time.Now())
			b.lang = lang
			f.on["ana"] = c.action == "remove_totp" || c.action == "new_recovery_codes"
			f.err[c.method] = c.err
			w := b.post("/account/two-step", url.Values{"action": {c.action}, "enrollment": {"enr-1"}, "code": {f.rightCode}})
			if w.Code != c.code || w.Header().Get("Location") != c.location {
				t.Errorf("%s: %d to %q, want %d to %q", name, w.Code, w.Header().Get("Location"), c.code, c.location)
			}
			if c.key != "" && !strings.Contains(text(w), lang.T(c.key)) {
				t.Errorf("%s: the page does not say %q", name, lang.T(c.key))
			}
		}
	}

	// Blink core without a usable core token: a fresh sign-in back to the change.
	for action, returnTo := range map[string]string{"enable_totp": twoStepOnURL, "confirm_totp": twoStepOnURL, "remove_totp": twoStepOffURL} {
		_, f, b := twoStepEnv(t, false, time.Now())
		for _, m := range []string{"BeginTOTP", "ConfirmTOTP", "RemoveTOTP"} {
			f.err[m] = identity.ErrFreshSignIn
		}
		w := b.post("/account/two-step", url.Values{"action": {action}, "enrollment": {"enr-1"}, "code": {f.rightCode}})
		auth, _ := url.Parse(w.Header().Get("Location"))
		if w.Code != http.StatusSeeOther || auth.Query().Get("prompt") != "login" {
			t.Errorf("%s with ErrFreshSignIn: %d to %q", action, w.Code, auth)
			continue
		}
		b.finishSignIn(auth.String(), "ana", "sid-ana-2", time.Now(), returnTo)
	}
}

func TestWithoutATwoStepSourceItsPagesAreNotFound(t *testing.T) {
	e := newEnv(t)
	b := e.browser("203.0.113.7")
	b.signIn("ana", "sid-ana", time.Now())
	for name, w := range map[string]*httptest.ResponseRecorder{
		"POST two-step": b.post("/account/two-step", url.Values{"action": {"enable_totp"}}),
		twoStepOnURL:    b.get(twoStepOnURL), twoStepOffURL: b.get(twoStepOffURL), recoveryURL: b.get(recoveryURL),
	} {
		if w.Code != http.StatusNotFound {
			t.Errorf("%s: %d", name, w.Code)
		}
	}
}

// A second signed-in person's two-step change is theirs: the source is asked
// for their subject and login session, never the other's.
func TestTwoStepChangesActOnTheSignedInPersonOnly(t *testing.T) {
	e, f, ana := twoStepEnv(t, false, time.Now())
	f.on["ana"] = true
	bob := e.browser("198.51.100.9")
	bob.signIn("bob", "sid-bob", time.Now())
	f.calls, f.who = nil, nil
	w := bob.post("/account/two-step", url.Values{"action": {"remove_totp"}, "subject": {"ana"}})
	if w.Header().Get("Location") != "/account?done=totp_already_off" || !f.on["ana"] {
		t.Errorf("bob's remove_totp: to %q, ana's on %v", w.Header().Get("Location"), f.on["ana"])
	}
	for _, who := range f.who {
		if who.Subject != "bob" || who.SessionID != "sid-bob" || who.IP != "198.51.100.9" {
			t.Errorf("the source was asked for %+v", who)
		}
	}
	if w := ana.get("/account"); !says(w, "account.twostep.on") {
		t.Error("ana's two-step sign-in is no longer on")
	}
}
