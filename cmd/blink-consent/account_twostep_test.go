//go:build devstack

package main

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// Two-step sign-in turned on and off from the account page, on the real
// Hydra and PostgreSQL.

var setupURIPattern = regexp.MustCompile(`<code id="totp-uri" class="setup-text">([^<]*)</code>`)

// setupURI reads the otpauth:// URI an enrol page shows as text.
func setupURI(t *testing.T, page hop) string {
	t.Helper()
	m := setupURIPattern.FindStringSubmatch(page.Body)
	if m == nil || !strings.HasPrefix(html.UnescapeString(m[1]), "otpauth://totp/") {
		t.Fatalf("no otpauth:// URI as text on %s %d:\n%s", page.URL.Path, page.Status, excerpt(page.Body))
	}
	return html.UnescapeString(m[1])
}

var enrollmentPattern = regexp.MustCompile(`name="enrollment" value="([^"]*)"`)

// enrolForm is the enrol page's form with code typed in.
func enrolForm(t *testing.T, page hop, code string) url.Values {
	t.Helper()
	m := enrollmentPattern.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no enrolment on the page:\n%s", excerpt(page.Body))
	}
	return url.Values{"action": {"confirm_totp"}, "enrollment": {m[1]}, "uri": {setupURI(t, page)}, "code": {code}}
}

// accountEmailSignIn answers the identifier page of st with the code mailed to email.
func accountEmailSignIn(t *testing.T, st *stack, b *browser, page hop, email string) journey {
	t.Helper()
	before := codeCount(testSMTP.inbox, email)
	form := url.Values{"flow": {flowID(t, page)}, "action": {"continue"}, "method": {"email"}, "email": {email}}
	codePage := b.Post(st.ServiceURL+"/login/identify", form).Last()
	if codePage.URL.Path != "/login/code" {
		t.Fatalf("asking for a code ended on %s %d:\n%s", codePage.URL.Path, codePage.Status, excerpt(codePage.Body))
	}
	return b.Post(st.ServiceURL+"/login/code", codeForm(codePage, waitCode(t, testSMTP.inbox, email, before+1)))
}

// waitNotice waits for a message to to carrying text.
func waitNotice(t *testing.T, to, text string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, m := range testSMTP.inbox.all(to) {
			if strings.Contains(m.Text, text) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message to %s saying %q within 15s", to, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ageAccountSession makes subject's account sign-in ten minutes old, as if
// Hydra had dated it so.
func ageAccountSession(t *testing.T, st *stack, subject string) {
	t.Helper()
	sqlExec(t, st.DatabaseURL, `UPDATE account_sessions SET auth_time = now() - interval '10 minutes' WHERE subject = $1`, subject)
}

func TestAccountTurnsTwoStepSignInOnAndOff(t *testing.T) {
	st := accountStack(t)
	const email = "account.twostep@example.com"
	subject := addUser(t, st, email)
	count := func(query string) int { t.Helper(); return queryIntOn(t, st, query, subject) }
	enrolments := func() int { return count(`SELECT count(*) FROM totp_enrollments WHERE user_id::text = $1`) }
	credentials := func() int { return count(`SELECT count(*) FROM totp_credentials WHERE user_id::text = $1`) }
	b := newBrowser(t)
	page := accountSignIn(t, st, b, subject).Last()
	if !strings.Contains(page.Body, `value="enable_totp"`) || !strings.Contains(page.Body, "Off: signing in needs only the code we send you.") {
		t.Fatalf("the two-step section of a user without TOTP:\n%s", excerpt(page.Body[strings.Index(page.Body, "twostep-heading"):]))
	}

	// Without a fresh sign-in nothing is begun: the browser goes to Hydra.
	ageAccountSession(t, st, subject)
	oldSID := ""
	for _, r := range accountRows(t, st, subject) {
		oldSID = r.SID
	}
	resp := noFollow(t, b, http.MethodPost, st.ServiceURL+"/account/two-step", url.Values{"action": {"enable_totp"}})
	auth, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(auth.Path, "/oauth2/auth") || auth.Query().Get("prompt") != "login" || auth.Query().Get("max_age") != "0" {
		t.Fatalf("turning on with an old sign-in: %d to %v, want Hydra with prompt=login and max_age=0", resp.StatusCode, auth)
	}
	if n := enrolments(); n != 0 {
		t.Fatalf("%d enrolments begun without a fresh sign-in", n)
	}

	// The fresh sign-in, through the sign-in pages; then the change is asked again.
	j := b.Get(resp.Header.Get("Location"))
	if j.Last().URL.Path != "/login" {
		t.Fatalf("Hydra did not ask for a sign-in: %v", paths(j))
	}
	start := accountEmailSignIn(t, st, b, j.Last(), email).Last()
	if start.URL.Path != "/account/two-step/on" || start.Status != http.StatusOK || !strings.Contains(start.Body, `value="enable_totp"`) {
		t.Fatalf("after the fresh sign-in: %s %d\n%s", start.URL.Path, start.Status, excerpt(start.Body))
	}
	if n := enrolments(); n != 0 {
		t.Fatalf("%d enrolments begun by the page after the sign-in (a GET)", n)
	}
	rows := accountRows(t, st, subject)
	if len(rows) != 1 {
		t.Fatalf("%d account sessions after the fresh sign-in, want 1", len(rows))
	}
	for _, r := range rows {
		if r.SID == "" || r.SID == oldSID || time.Since(r.AuthTime) > time.Minute {
			t.Errorf("the new session has sid %q (old %q) and auth_time %v: want Hydra's new sid and a fresh auth_time", r.SID, oldSID, r.AuthTime)
		}
	}

	enrol := b.Post(st.ServiceURL+"/account/two-step", url.Values{"action": {"enable_totp"}}).Last()
	if enrol.Status != http.StatusOK || !strings.Contains(enrol.Body, `autocomplete="one-time-code"`) || !strings.Contains(enrol.Body, "<svg class=\"qr\"") {
		t.Fatalf("the enrol page: %s %d\n%s", enrol.URL.Path, enrol.Status, excerpt(enrol.Body))
	}
	uri := setupURI(t, enrol)
	secret, err := totp.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	if n := enrolments(); n != 1 {
		t.Fatalf("%d enrolments after turning on, want 1", n)
	}
	if n := credentials(); n != 0 {
		t.Fatalf("%d credentials before any code", n)
	}

	// A wrong code saves nothing and shows the same enrolment again.
	right := totp.Code(secret, time.Now())
	again := b.Post(st.ServiceURL+"/account/two-step", enrolForm(t, enrol, wrongCode(right))).Last()
	if again.Status != http.StatusUnprocessableEntity || !strings.Contains(again.Body, "That code is not right.") || setupURI(t, again) != uri {
		t.Fatalf("a wrong code: %d\n%s", again.Status, excerpt(again.Body))
	}
	if n := credentials(); n != 0 {
		t.Fatalf("a wrong code saved %d credentials", n)
	}
	// A URI edited in the form is not what is saved: the enrolment is the server's.
	forged := enrolForm(t, again, totp.Code(secret, time.Now()))
	forged.Set("uri", "otpauth://totp/x?secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	outboxBefore := queryIntOn(t, st, `SELECT count(*) FROM outbox WHERE destination = $1`, email)
	// The right code turns it on and shows the ten recovery codes, once,
	// never cached; only their hashes are stored.
	shown := b.Post(st.ServiceURL+"/account/two-step", forged).Last()
	codes := recoveryCodesOn(shown)
	if shown.URL.Path != "/account/two-step" || len(codes) != 10 || shown.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("the right code: %s %d %q, %d codes\n%s", shown.URL.Path, shown.Status, shown.Header.Get("Cache-Control"), len(codes), excerpt(shown.Body))
	}
	if n := count(`SELECT count(*) FROM recovery_codes WHERE user_id::text = $1 AND used_at IS NULL`); n != 10 {
		t.Errorf("%d unused recovery codes stored, want 10", n)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM recovery_codes WHERE user_id::text = $1 AND position(convert_to($2, 'UTF8') in code_hash) > 0`, subject, codes[0]); n != 0 {
		t.Error("a recovery code is stored as itself")
	}
	done := b.Get(st.ServiceURL + "/account?done=totp_on").Last()
	if !strings.Contains(shown.Body, `href="/account?done=totp_on"`) || !strings.Contains(done.Body, "Two-step sign-in is on.") || !strings.Contains(done.Body, `href="/account/two-step/off"`) ||
		!strings.Contains(done.Body, "Recovery codes left: 10 of 10.") {
		t.Fatalf("back on the account page: %s %d\n%s", done.URL.Path, done.Status, excerpt(done.Body))
	}
	if n := credentials(); n != 1 {
		t.Fatalf("%d credentials after the right code, want 1", n)
	}
	if n := count(`SELECT count(*) FROM audit_events WHERE user_id::text = $1 AND action = 'totp enrolled' AND actor = 'user' AND result = 'ok'`); n != 1 {
		t.Errorf("%d audit events of the enrolment, want 1", n)
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM outbox WHERE destination = $1`, email); n != outboxBefore+1 {
		t.Errorf("%d messages queued to %s after enrolling, want %d", n, email, outboxBefore+1)
	}
	waitNotice(t, email, i18n.English.T("notify.totp.added"))

	// The next sign-in to another app asks for the authenticator code, and
	// Hydra is told it was two steps.
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	other := newBrowser(t)
	j = rp.start(other)
	step := accountEmailSignIn(t, st, other, j.Last(), email)
	if step.Last().URL.Path != "/login/totp" {
		t.Fatalf("the sign-in after enrolling did not ask for the authenticator: %v", paths(step))
	}
	challenge := loginChallenge(t, j)
	signedIn := other.Post(st.ServiceURL+"/login/totp", url.Values{"flow": {flowID(t, step.Last())}, "code": {totp.Code(secret, time.Now().Add(totp.Period*time.Second))}, "action": {"continue"}})
	if _, claims := rp.tokens(t, signedIn); claims["acr"] != "2" {
		t.Errorf("the two-step sign-in's claims %v", claims)
	}
	accepts := accountStackOnce.spy.Accepts(challenge)
	if len(accepts) != 1 || accepts[0].ACR != "2" || !slices.Contains(accepts[0].AMR, "totp") {
		t.Errorf("Hydra's accepts of the two-step sign-in: %+v, want acr 2 with totp", accepts)
	}

	// New recovery codes need a fresh sign-in; the old ones then stop working.
	ageAccountSession(t, st, subject)
	j = b.Get(st.ServiceURL + "/account/two-step/recovery")
	if j.Visited("/login") == 0 {
		t.Fatalf("new recovery codes with an old sign-in did not send to a sign-in: %v", paths(j))
	}
	ask := signInAsHydraAdmin(t, st, b, j, subject, true).Last()
	if ask.URL.Path != "/account/two-step/recovery" || !strings.Contains(ask.Body, `value="new_recovery_codes"`) {
		t.Fatalf("after the fresh sign-in: %s %d\n%s", ask.URL.Path, ask.Status, excerpt(ask.Body))
	}
	fresh := recoveryCodesOn(b.Post(st.ServiceURL+"/account/two-step", url.Values{"action": {"new_recovery_codes"}}).Last())
	if len(fresh) != 10 || slices.Contains(fresh, codes[0]) {
		t.Fatalf("new recovery codes: %v (old first %s)", fresh, codes[0])
	}
	if n := count(`SELECT count(*) FROM recovery_codes WHERE user_id::text = $1 AND used_at IS NULL`); n != 10 {
		t.Errorf("%d unused recovery codes after making new ones, want 10", n)
	}
	if n := count(`SELECT count(*) FROM audit_events WHERE user_id::text = $1 AND action = 'recovery codes made' AND actor = 'user'`); n != 1 {
		t.Errorf("%d audit events of new recovery codes, want 1", n)
	}
	waitNotice(t, email, i18n.English.T("notify.recovery.new"))

	// Turning off needs a fresh sign-in too; then the confirmation; then the POST.
	ageAccountSession(t, st, subject)
	j = b.Get(st.ServiceURL + "/account/two-step/off")
	if j.Visited("/login") == 0 || j.Visited("/account/two-step/off") != http.StatusSeeOther {
		t.Fatalf("the removal page with an old sign-in did not send to a sign-in: %v", paths(j))
	}
	if n := credentials(); n != 1 {
		t.Fatal("the credential went before the fresh sign-in")
	}
	confirm := signInAsHydraAdmin(t, st, b, j, subject, true).Last()
	if confirm.URL.Path != "/account/two-step/off" || !strings.Contains(confirm.Body, `value="remove_totp"`) {
		t.Fatalf("after the fresh sign-in: %s %d\n%s", confirm.URL.Path, confirm.Status, excerpt(confirm.Body))
	}
	if n := credentials(); n != 1 {
		t.Fatal("showing the removal page removed the credential")
	}
	done = b.Post(st.ServiceURL+"/account/two-step", url.Values{"action": {"remove_totp"}}).Last()
	if done.URL.Path != "/account" || !strings.Contains(done.Body, "Two-step sign-in is off.") || !strings.Contains(done.Body, `value="enable_totp"`) {
		t.Fatalf("after removing: %s %d\n%s", done.URL.Path, done.Status, excerpt(done.Body))
	}
	if n := credentials(); n != 0 {
		t.Fatalf("%d credentials after removing", n)
	}
	if n := count(`SELECT count(*) FROM recovery_codes WHERE user_id::text = $1`); n != 0 {
		t.Errorf("%d recovery codes left after turning two-step off", n)
	}
	if n := count(`SELECT count(*) FROM audit_events WHERE user_id::text = $1 AND action = 'totp removed' AND actor = 'user'`); n != 1 {
		t.Errorf("%d audit events of the removal, want 1", n)
	}
	waitNotice(t, email, i18n.English.T("notify.totp.removed"))
	if again := b.Post(st.ServiceURL+"/account/two-step", url.Values{"action": {"remove_totp"}}).Last(); !strings.Contains(again.Body, "Two-step sign-in is already off") {
		t.Errorf("removing twice: %s %d", again.URL.Path, again.Status)
	}

	third := newBrowser(t)
	j = accountEmailSignIn(t, st, third, rp.start(third).Last(), email)
	if j.Visited("/login/totp") != 0 {
		t.Errorf("the sign-in after removing asked for the authenticator: %v", paths(j))
	}
	if _, claims := rp.tokens(t, j); claims["acr"] != "1" {
		t.Errorf("the sign-in after removing has acr %v", claims["acr"])
	}
}

// An enrolment that is gone (expired, its tries spent) says so and offers to
// start again, and the error pages of the flow never come back empty.
func TestAccountTwoStepErrorsHaveAPage(t *testing.T) {
	st := accountStack(t)
	subject := addUser(t, st, "account.twostep.errors@example.com")
	b := newBrowser(t)
	accountSignIn(t, st, b, subject)
	enrol := b.Post(st.ServiceURL+"/account/two-step", url.Values{"action": {"enable_totp"}}).Last()
	uri := setupURI(t, enrol)
	sqlExec(t, st.DatabaseURL, `UPDATE totp_enrollments SET expires_at = now() - interval '1 second' WHERE user_id::text = $1`, subject)
	secret, err := totp.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	gone := b.Post(st.ServiceURL+"/account/two-step", enrolForm(t, enrol, totp.Code(secret, time.Now()))).Last()
	if gone.Status != http.StatusGone || !strings.Contains(gone.Body, "This setup is no longer valid.") || !strings.Contains(gone.Body, `value="enable_totp"`) {
		t.Errorf("an expired enrolment: %d\n%s", gone.Status, excerpt(gone.Body))
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM totp_credentials WHERE user_id::text = $1`, subject); n != 0 {
		t.Errorf("an expired enrolment saved %d credentials", n)
	}
	bad := b.Post(st.ServiceURL+"/account/two-step", url.Values{"action": {"confirm_totp"}, "enrollment": {"not-an-id"}, "code": {"123456"}}).Last()
	if bad.Status != http.StatusGone || !strings.Contains(bad.Body, "This setup is no longer valid.") {
		t.Errorf("a made-up enrolment: %d\n%s", bad.Status, excerpt(bad.Body))
	}
	if other := b.Post(st.ServiceURL+"/account/two-step", url.Values{"action": {"nonsense"}}).Last(); other.Status != http.StatusBadRequest || len(other.Body) < 100 {
		t.Errorf("an unknown action: %d %q", other.Status, excerpt(other.Body))
	}
}

// With IDENTITY_SOURCE=blink the same page turns two-step sign-in on and off
// at core (the stand-in), with the core token of the sign-in to the page;
// the account's next sign-in asks core for the code; signing out of the page
// forgets the kept token.
func TestAccountTwoStepWithBlinkCore(t *testing.T) {
	st, core := accountBlinkStack(t)
	const email = "account.blink.totp@example.com"
	id := core.AddIdentity(email, "")
	signIn := func(b *browser, j journey, code func() string) journey {
		t.Helper()
		codePage := blinkIdentify(t, st, b, j.Last(), url.Values{"method": {"email"}, "email": {email}})
		j = blinkCode(st, b, codePage, core.Code(email))
		if last := j.Last(); last.URL.Path == "/login/totp" {
			if code == nil {
				t.Fatal("the sign-in asked for an authenticator code")
			}
			j = b.Post(st.ServiceURL+"/login/totp", url.Values{"flow": {flowID(t, last)}, "code": {code()}, "action": {"continue"}})
		} else if code != nil {
			t.Fatalf("the sign-in did not ask for an authenticator code: %v", paths(j))
		}
		return j
	}
	audited := func(action string) int {
		return queryIntOn(t, st, `SELECT count(*) FROM audit_events WHERE user_id::text = $1 AND action = $2 AND actor = 'user'`, id, action)
	}
	notices := func() int { return queryIntOn(t, st, `SELECT count(*) FROM outbox WHERE destination = $1`, email) }

	b := newBrowser(t)
	page := signIn(b, b.Get(st.ServiceURL+"/account"), nil).Last()
	if page.URL.Path != "/account" || !strings.Contains(page.Body, `value="enable_totp"`) {
		t.Fatalf("the account page after a core sign-in: %s %d\n%s", page.URL.Path, page.Status, excerpt(page.Body))
	}
	enrol := b.Post(st.ServiceURL+"/account/two-step", url.Values{"action": {"enable_totp"}}).Last()
	secret, err := totp.ParseURI(setupURI(t, enrol))
	if err != nil {
		t.Fatal(err)
	}
	right := totp.Code(secret, time.Now())
	if again := b.Post(st.ServiceURL+"/account/two-step", enrolForm(t, enrol, wrongCode(right))).Last(); again.Status != http.StatusUnprocessableEntity {
		t.Errorf("a wrong code: %d", again.Status)
	}
	if core.TOTPSecret(id) != nil {
		t.Fatal("a wrong code turned two-step sign-in on at core")
	}
	done := b.Post(st.ServiceURL+"/account/two-step", enrolForm(t, enrol, right)).Last()
	if done.URL.Path != "/account" || !strings.Contains(done.Body, "Two-step sign-in is on.") {
		t.Fatalf("the right code: %s %d\n%s", done.URL.Path, done.Status, excerpt(done.Body))
	}
	if got := core.TOTPSecret(id); string(got) != string(secret) {
		t.Fatal("core does not hold the secret the page showed")
	}
	if audited("totp enrolled") != 1 || notices() != 1 {
		t.Errorf("the enrolment: %d audit events, %d notices, want 1 and 1", audited("totp enrolled"), notices())
	}

	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	other := newBrowser(t)
	if _, claims := rp.tokens(t, signIn(other, rp.start(other), func() string { return totp.Code(secret, time.Now().Add(totp.Period*time.Second)) })); claims["acr"] != "2" {
		t.Errorf("the sign-in after enrolling has claims %v, want acr 2", claims)
	}

	confirm := b.Get(st.ServiceURL + "/account/two-step/off").Last()
	if confirm.URL.Path != "/account/two-step/off" || !strings.Contains(confirm.Body, `value="remove_totp"`) {
		t.Fatalf("the removal page: %s %d", confirm.URL.Path, confirm.Status)
	}
	// Core takes the page's token no more: it is of a sign-in without the
	// authenticator, which the account now has. The page asks for a new
	// sign-in (core asks for the code), then for the removal again.
	j := b.Post(st.ServiceURL+"/account/two-step", url.Values{"action": {"remove_totp"}})
	if j.Last().URL.Path != "/login" || core.TOTPSecret(id) == nil {
		t.Fatalf("removing with the one-step sign-in's token: %v", paths(j))
	}
	confirm = signIn(b, j, func() string { return totp.Code(secret, time.Now()) }).Last()
	if confirm.URL.Path != "/account/two-step/off" || !strings.Contains(confirm.Body, `value="remove_totp"`) || core.TOTPSecret(id) == nil {
		t.Fatalf("after the two-step sign-in: %s %d", confirm.URL.Path, confirm.Status)
	}
	done = b.Post(st.ServiceURL+"/account/two-step", url.Values{"action": {"remove_totp"}}).Last()
	if done.URL.Path != "/account" || !strings.Contains(done.Body, "Two-step sign-in is off.") {
		t.Fatalf("removing: %s %d\n%s", done.URL.Path, done.Status, excerpt(done.Body))
	}
	if core.TOTPSecret(id) != nil {
		t.Fatal("core still has the authenticator")
	}
	if audited("totp removed") != 1 || notices() != 2 {
		t.Errorf("the removal: %d audit events, %d notices, want 1 and 2", audited("totp removed"), notices())
	}
	third := newBrowser(t)
	if _, claims := rp.tokens(t, signIn(third, rp.start(third), nil)); claims["acr"] != "1" {
		t.Errorf("the sign-in after removing has acr %v", claims["acr"])
	}

	var sid string
	for _, r := range accountRows(t, st, id) {
		sid = r.SID
	}
	if n := queryIntOn(t, st, `SELECT count(*) FROM core_tokens WHERE session_id = $1`, sid); n != 1 {
		t.Fatalf("%d core tokens kept for the account session, want 1", n)
	}
	b.Post(st.ServiceURL+"/account/signout", nil)
	if n := queryIntOn(t, st, `SELECT count(*) FROM core_tokens WHERE session_id = $1`, sid); n != 0 {
		t.Errorf("%d core tokens kept after signing out of the page, want 0", n)
	}
}

var recoveryCodeOnPage = regexp.MustCompile(`<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>`)

// recoveryCodesOn reads the recovery codes a page shows.
func recoveryCodesOn(h hop) []string {
	var codes []string
	for _, m := range recoveryCodeOnPage.FindAllStringSubmatch(h.Body, -1) {
		codes = append(codes, m[1])
	}
	return codes
}
