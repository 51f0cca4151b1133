package login

import (
	"bytes"
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/passkey"
	"github.com/blinkbitcoin/blink-consent/internal/passkey/passkeytest"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// offerStore keeps the offer's registrations as the store's statements do:
// a ceremony answers once, only for its subject and binding; the passkey,
// its audit line and its notice are written together.
type offerStore struct {
	mu         sync.Mutex
	users      map[string]store.User
	ceremonies map[string]store.Ceremony
	passkeys   []store.Passkey
	audits     []store.AuditEvent
	notices    []store.Message
	fail       error
}

func (s *offerStore) SaveCeremony(_ context.Context, c store.Ceremony, _ time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return "", s.fail
	}
	c.ID = newUUID()
	s.ceremonies[c.ID] = c
	return c.ID, nil
}

func (s *offerStore) AddPasskey(_ context.Context, in store.NewPasskey) (store.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.ceremonies[in.Ceremony.ID]
	if !ok || c.Subject != in.Ceremony.Subject || !bytes.Equal(c.Binding, in.Ceremony.Binding) {
		return store.Passkey{}, store.ErrCeremony
	}
	delete(s.ceremonies, c.ID)
	p, err := in.Create(c.Session)
	if err != nil {
		return store.Passkey{}, err
	}
	p.ID = newUUID()
	s.passkeys = append(s.passkeys, p)
	if in.Audit != nil {
		s.audits = append(s.audits, *in.Audit)
		if in.Notify != nil {
			s.notices = append(s.notices, *in.Notify)
		}
	}
	return p, nil
}

func (s *offerStore) Passkeys(_ context.Context, subject string) ([]store.Passkey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	var out []store.Passkey
	for _, p := range s.passkeys {
		if p.Subject == subject {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *offerStore) UserByID(_ context.Context, id string) (store.User, error) {
	u, ok := s.users[id]
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	return u, nil
}

// offerWorld is a world whose offer is on, with maria and jose.
func offerWorld(t *testing.T) (*world, *offerStore) {
	t.Helper()
	w := newWorld(t, maria, jose)
	u, _ := url.Parse(testOrigin)
	rp, err := passkey.New(u, "Blink")
	if err != nil {
		t.Fatal(err)
	}
	os := &offerStore{users: map[string]store.User{maria.ID: maria, jose.ID: jose}, ceremonies: map[string]store.Ceremony{}}
	w.d.Offer = &Offer{RP: rp, Store: os, Keys: secret.NewKeys(bytes.Repeat([]byte{9}, 32))}
	w.buildWithOffer()
	return w, os
}

// buildWithOffer is build with the offer's routes, as server/routes.go
// mounts them.
func (w *world) buildWithOffer() {
	w.build()
	mux := http.NewServeMux()
	mux.Handle("GET "+OfferPath, HandleOfferPage(w.d))
	mux.Handle("POST "+OfferPath, HandleOffer(w.d))
	mux.Handle("/", w.h)
	w.h = mux
}

// capable is a browser whose code page found a platform authenticator.
func (w *world) capable(ip string) *browser {
	b := w.browser(ip)
	b.cookies[deviceCookie] = &http.Cookie{Name: deviceCookie, Value: "1"}
	return b
}

var (
	offerCeremony = regexp.MustCompile(`name="ceremony" value="([^"]*)"`)
	offerOptions  = regexp.MustCompile(`data-options="([^"]*)"`)
)

// offerPage opens the offer of flow and returns its ceremony and options.
func (b *browser) offerPage(flow string) (string, []byte) {
	t := b.w.t
	t.Helper()
	rec := b.get(OfferPath + "?flow=" + flow)
	wantPage(t, rec, http.StatusOK, "login.passkey_offer.title", "login.passkey_offer.not_now")
	c, o := offerCeremony.FindStringSubmatch(rec.Body.String()), offerOptions.FindStringSubmatch(rec.Body.String())
	if c == nil || o == nil {
		t.Fatalf("the offer has no ceremony or options\n%s", excerpt(rec))
	}
	return c[1], []byte(html.UnescapeString(o[1]))
}

// After the right code, a device that can make a passkey is offered one
// before Hydra hears anything; the passkey made there is maria's, audited
// and told, and the sign-in then finishes as a code sign-in.
func TestOfferMakesAPasskeyThenFinishes(t *testing.T) {
	w, os := offerWorld(t)
	b := w.capable("203.0.113.7")
	c := w.challenge()
	flow, code := b.toCodePage(c, maria.Email)
	wantRedirect(t, b.code(flow, code), OfferPath+"?flow="+flow)
	wantAnswers(t, w.hy)
	ceremony, options := b.offerPage(flow)
	auth := passkeytest.New(testOrigin, "login.blink.sv", passkeytest.Options{})
	rec := b.post(OfferPath, url.Values{"flow": {flow}, "action": {"create"}, "ceremony": {ceremony}, "credential": {string(auth.Register(options, maria.ID))}})
	wantRedirect(t, rec, acceptURL(c))
	wantAnswers(t, w.hy, "accept:"+maria.ID)
	if a := lastAccept(t, w.hy); a.ACR != "1" || a.Context["method"] != "email" {
		t.Errorf("the sign-in after the offer was accepted as %+v", a)
	}
	if len(os.passkeys) != 1 || os.passkeys[0].Subject != maria.ID || !bytes.Equal(os.passkeys[0].CredentialID, auth.CredentialID()) {
		t.Fatalf("passkeys %+v", os.passkeys)
	}
	if len(os.audits) != 1 || os.audits[0].Action != store.ActionPasskeyAdded || os.audits[0].UserID != maria.ID || os.audits[0].Method != "sign-in offer" || os.audits[0].ClientID != "app" {
		t.Errorf("audits %+v", os.audits)
	}
	if len(os.notices) != 1 || os.notices[0].Destination != maria.Email {
		t.Errorf("notices %+v", os.notices)
	}
	// The flow is done: the offer cannot be answered again.
	if rec := b.post(OfferPath, url.Values{"flow": {flow}, "action": {"create"}, "ceremony": {ceremony}}); rec.Code == http.StatusOK || len(w.hy.answers()) != 1 {
		t.Errorf("the offer of a finished flow: %d, Hydra told %d times", rec.Code, len(w.hy.answers()))
	}

	// Maria has a passkey now: the next code sign-in is not offered one.
	b2 := w.capable("203.0.113.8")
	c2 := w.challenge()
	flow2, code2 := b2.toCodePage(c2, maria.Email)
	wantRedirect(t, b2.code(flow2, code2), acceptURL(c2))
}

// Every other answer goes on to the app too: an answer the server refuses
// and a failed dialog (offered again next time), then "Continue" and "Not
// now" (a no, remembered on the device, so the next code sign-in is not
// offered one); none makes a passkey.
func TestOfferNeverStopsASignIn(t *testing.T) {
	w, os := offerWorld(t)
	b := w.capable("203.0.113.7")
	for _, form := range []url.Values{
		{"action": {"create"}, "ceremony": {"00000000-0000-4000-8000-000000000000"}, "credential": {`{"not":"a credential"}`}},
		{"action": {"failed"}},
		{"action": {"skip"}},
	} {
		c := w.challenge()
		flow, code := b.toCodePage(c, maria.Email)
		wantRedirect(t, b.code(flow, code), OfferPath+"?flow="+flow)
		b.offerPage(flow)
		form.Set("flow", flow)
		wantRedirect(t, b.post(OfferPath, form), acceptURL(c))
		if remembered, no := b.cookies[notNowCookie] != nil, form.Get("action") == "skip"; remembered != no {
			t.Fatalf("after %q the device's no is remembered: %v", form.Get("action"), remembered)
		}
	}
	if len(os.passkeys) != 0 || len(os.audits) != 0 || len(os.notices) != 0 {
		t.Errorf("passkeys %v audits %v", os.passkeys, os.audits)
	}
	if b.cookies[notNowCookie] == nil || b.cookies[notNowCookie].MaxAge < 300*24*3600 {
		t.Fatalf("'Not now' was not remembered: %+v", b.cookies[notNowCookie])
	}
	c := w.challenge()
	flow, code := b.toCodePage(c, maria.Email)
	wantRedirect(t, b.code(flow, code), acceptURL(c))

	// A device that cannot make one (no hint, or "0"), and the store down:
	// no offer, the sign-in finishes.
	noHint, zero, down := w.browser("203.0.113.9"), w.capable("203.0.113.10"), w.capable("203.0.113.11")
	zero.cookies[deviceCookie].Value = "0"
	for _, b := range []*browser{noHint, zero, down} {
		if b == down {
			os.fail = errors.New("store: connection refused")
		}
		c := w.challenge()
		flow, code := b.toCodePage(c, maria.Email)
		wantRedirect(t, b.code(flow, code), acceptURL(c))
	}
	os.fail = nil
}

// The offer is shown only to the browser of a verified flow that waits for
// nothing else; another browser cannot see or answer it, and with passkeys
// off it does not exist.
func TestOfferOnlyForItsFlowAndBrowser(t *testing.T) {
	w, _ := offerWorld(t)
	b := w.capable("203.0.113.7")
	c := w.challenge()
	flow, code := b.toCodePage(c, maria.Email)
	// Not verified yet.
	wantPage(t, b.get(OfferPath+"?flow="+flow), http.StatusGone)
	wantPage(t, b.post(OfferPath, url.Values{"flow": {flow}, "action": {"skip"}}), http.StatusGone)
	wantRedirect(t, b.code(flow, code), OfferPath+"?flow="+flow)
	// Another browser, with its own cookie.
	other := w.capable("198.51.100.1")
	other.open(w.challenge())
	wantPage(t, other.get(OfferPath+"?flow="+flow), http.StatusGone)
	wantPage(t, other.post(OfferPath, url.Values{"flow": {flow}, "action": {"skip"}}), http.StatusGone)
	wantAnswers(t, w.hy)
	// Passkeys off.
	w.d.Offer = nil
	w.buildWithOffer()
	wantPage(t, b.get(OfferPath+"?flow="+flow), http.StatusGone)
	if w.d.PasskeyHintCookie() != "" {
		t.Error("the code page asks for the hint with passkeys off")
	}
}
