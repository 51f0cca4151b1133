package account

// Fakes of the account page's small interfaces (Store, Hydra's admin API,
// identity.TOTPManager) and an httptest server that speaks Hydra's public
// wire format (/oauth2/token, /.well-known/jwks.json) the way Hydra v2.3.0
// does: RS256 ID and logout tokens under a kid from its JWKS, client_secret_basic,
// PKCE S256, single-use codes answered with invalid_grant once used. The
// tests below drive the handlers through a "browser" that keeps cookies.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/i18n"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// --- Store -----------------------------------------------------------------

// fakeStore keeps the account page's rows in memory, as PostgreSQL would:
// sessions under their cookie's hash (only unexpired ones are read), which
// Hydra login sessions were remembered, users, audit events.
type fakeStore struct {
	mu         sync.Mutex
	sessions   map[string]store.AccountSession // by string(token hash)
	remembered map[string]bool                 // by sid
	users      map[string]store.User
	audits     []store.AuditEvent            // written by Audit
	events     map[string][]store.AuditEvent // what LatestAuditEvents reads, by user
	granted    map[string][]store.GrantedClient
	started    int      // StartAccountSession calls
	endedLogin []string // EndLoginSession's sids
	// fail makes the named method fail (a PostgreSQL outage).
	fail map[string]error

	// What an identity source keeps for a login session (Blink core's token).
	*fakeCoreTokens
	// The passkeys and their ceremonies.
	*fakePasskeys
}

// fakeCoreTokens is what the source keeps per login session (with Blink
// core, its token): which login sessions (sid) have one, and which were
// forgotten.
type fakeCoreTokens struct {
	kept      map[string]bool
	forgotten []string
	forgetErr error
}

func (c *fakeCoreTokens) ForgetSessionState(ctx context.Context, sid string) error {
	c.forgotten = append(c.forgotten, sid)
	if c.forgetErr != nil {
		return c.forgetErr
	}
	delete(c.kept, sid)
	return nil
}

var errOutage = errors.New("store: connection refused")

func newFakeStore() *fakeStore {
	return &fakeStore{
		sessions: map[string]store.AccountSession{}, remembered: map[string]bool{}, users: map[string]store.User{},
		events: map[string][]store.AuditEvent{}, granted: map[string][]store.GrantedClient{}, fail: map[string]error{},
		fakeCoreTokens: &fakeCoreTokens{kept: map[string]bool{}},
		fakePasskeys:   &fakePasskeys{ceremonies: map[string]*store.Ceremony{}, used: map[string]bool{}},
	}
}

// fakePasskeys keeps passkeys and registration ceremonies as the store's
// statements do: a ceremony is single-use and answers only for its subject
// and binding (even a refused answer spends it); a subject has at most
// in.Max; a credential id is registered once; a change is made only to the
// subject's own passkey, with its audit line and notice in the same
// "transaction".
type fakePasskeys struct {
	mu         sync.Mutex
	ceremonies map[string]*store.Ceremony
	used       map[string]bool
	rows       []store.Passkey
	audits     []store.AuditEvent // written with a change
	notices    []store.Message    // queued with a change
	fail       error              // every passkey statement fails (an outage)
}

func (f *fakePasskeys) SaveCeremony(ctx context.Context, c store.Ceremony, ttl time.Duration) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	live := 0
	for id, k := range f.ceremonies {
		if !f.used[id] && k.Subject == c.Subject && bytes.Equal(k.Binding, c.Binding) {
			live++
		}
	}
	if live >= store.MaxLiveCeremonies {
		return "", store.ErrCeremonyLimit
	}
	c.ID = fmt.Sprintf("00000000-0000-4000-8000-%012d", len(f.ceremonies)+1)
	f.ceremonies[c.ID] = &c
	return c.ID, nil
}

func (f *fakePasskeys) AddPasskey(ctx context.Context, in store.NewPasskey) (store.Passkey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return store.Passkey{}, f.fail
	}
	c, ok := f.ceremonies[in.Ceremony.ID]
	if !ok || f.used[c.ID] || c.Purpose != store.CeremonyRegister || c.Subject != in.Ceremony.Subject || !bytes.Equal(c.Binding, in.Ceremony.Binding) {
		return store.Passkey{}, store.ErrCeremony
	}
	f.used[c.ID] = true
	n := 0
	for _, p := range f.rows {
		if p.Subject == c.Subject {
			n++
		}
	}
	if n >= in.Max {
		return store.Passkey{}, store.ErrPasskeyLimit
	}
	p, err := in.Create(c.Session)
	if err != nil {
		return store.Passkey{}, err
	}
	for _, q := range f.rows {
		if bytes.Equal(q.CredentialID, p.CredentialID) {
			return store.Passkey{}, store.ErrPasskeyExists
		}
	}
	p.ID = fmt.Sprintf("10000000-0000-4000-8000-%012d", len(f.rows)+1)
	p.CreatedAt = time.Now()
	f.rows = append(f.rows, p)
	f.changed(in.Audit, in.Notify, c.Subject, p)
	return p, nil
}

// changed records a change's audit line (as the store completes it) and notice.
func (f *fakePasskeys) changed(audit *store.AuditEvent, notify *store.Message, subject string, p store.Passkey) {
	if audit != nil {
		e := *audit
		e.UserID = subject
		e.Details = map[string]any{"passkey": p.ID, "name": p.Name}
		f.audits = append(f.audits, e)
		if notify != nil {
			f.notices = append(f.notices, *notify)
		}
	}
}

func (f *fakePasskeys) Passkeys(ctx context.Context, subject string) ([]store.Passkey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []store.Passkey
	for _, p := range f.rows {
		if p.Subject == subject {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *fakePasskeys) RenamePasskey(ctx context.Context, subject, id, name string, audit *store.AuditEvent, notify *store.Message) error {
	return f.change(subject, id, func(i int) { f.rows[i].Name = name }, audit, notify)
}

func (f *fakePasskeys) RemovePasskey(ctx context.Context, subject, id string, audit *store.AuditEvent, notify *store.Message) error {
	return f.change(subject, id, func(i int) { f.rows = append(f.rows[:i], f.rows[i+1:]...) }, audit, notify)
}

func (f *fakePasskeys) change(subject, id string, do func(i int), audit *store.AuditEvent, notify *store.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	for i, p := range f.rows {
		if p.Subject == subject && p.ID == id {
			do(i)
			f.changed(audit, notify, subject, p)
			return nil
		}
	}
	return store.ErrNotFound
}

// of lists subject's passkeys.
func (f *fakePasskeys) of(subject string) []store.Passkey {
	p, _ := f.Passkeys(context.Background(), subject)
	return p
}

func (s *fakeStore) StartAccountSession(ctx context.Context, tokenHash, replacedHash []byte, a store.AccountSession, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail["StartAccountSession"]; err != nil {
		return err
	}
	s.started++
	if replacedHash != nil {
		delete(s.sessions, string(replacedHash))
	}
	a.CreatedAt = time.Now()
	a.ExpiresAt = a.CreatedAt.Add(ttl)
	s.sessions[string(tokenHash)] = a
	return nil
}

func (s *fakeStore) AccountSession(ctx context.Context, tokenHash []byte) (store.AccountSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail["AccountSession"]; err != nil {
		return store.AccountSession{}, err
	}
	a, ok := s.sessions[string(tokenHash)]
	if !ok || !a.ExpiresAt.After(time.Now()) {
		return store.AccountSession{}, store.ErrNotFound
	}
	return a, nil
}

func (s *fakeStore) EndAccountSession(ctx context.Context, tokenHash []byte) (store.AccountSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail["EndAccountSession"]; err != nil {
		return store.AccountSession{}, err
	}
	a, ok := s.sessions[string(tokenHash)]
	if !ok {
		return store.AccountSession{}, store.ErrNotFound
	}
	delete(s.sessions, string(tokenHash))
	return a, nil
}

func (s *fakeStore) LoginSessionRemembered(ctx context.Context, sid string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail["LoginSessionRemembered"]; err != nil {
		return false, err
	}
	return s.remembered[sid], nil
}

func (s *fakeStore) EndLoginSession(ctx context.Context, sid string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail["EndLoginSession"]; err != nil {
		return 0, err
	}
	s.endedLogin = append(s.endedLogin, sid)
	var n int64
	for h, a := range s.sessions {
		if a.SID == sid {
			delete(s.sessions, h)
			n++
		}
	}
	// In the same transaction as the real store: the core token goes too.
	delete(s.kept, sid)
	return n, nil
}

func (s *fakeStore) LatestAuditEvents(ctx context.Context, userID string, n int) ([]store.AuditEvent, error) {
	if err := s.fail["LatestAuditEvents"]; err != nil {
		return nil, err
	}
	ev := s.events[userID]
	if len(ev) > n {
		ev = ev[:n]
	}
	return ev, nil
}

func (s *fakeStore) GrantedClients(ctx context.Context, userID string) ([]store.GrantedClient, error) {
	if err := s.fail["GrantedClients"]; err != nil {
		return nil, err
	}
	return s.granted[userID], nil
}

func (s *fakeStore) Audit(ctx context.Context, e store.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail["Audit"]; err != nil {
		return err
	}
	s.audits = append(s.audits, e)
	return nil
}

func (s *fakeStore) UserByID(ctx context.Context, id string) (store.User, error) {
	if err := s.fail["UserByID"]; err != nil {
		return store.User{}, err
	}
	u, ok := s.users[id]
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	return u, nil
}

// sessionsOf lists the subject's live session rows.
func (s *fakeStore) sessionsOf(subject string) []store.AccountSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.AccountSession
	for _, a := range s.sessions {
		if a.Subject == subject {
			out = append(out, a)
		}
	}
	return out
}

// --- Hydra's admin API -----------------------------------------------------

type revocation struct{ Subject, Client string }

// fakeAdmin is the part of Hydra's admin API the page uses. Revoking deletes
// the subject's consent sessions of that client (or all of them), as Hydra
// does, and records the call.
type fakeAdmin struct {
	consents    map[string][]hydra.ConsentSession // by subject
	clients     map[string]hydra.OAuthClient
	revoked     []revocation
	revokedAll  []string
	clientReads int
	listErr     error
	revokeErr   error
	clientErr   error
}

func newFakeAdmin() *fakeAdmin {
	return &fakeAdmin{consents: map[string][]hydra.ConsentSession{}, clients: map[string]hydra.OAuthClient{}}
}

func (h *fakeAdmin) ConsentSessions(ctx context.Context, subject string) ([]hydra.ConsentSession, error) {
	if h.listErr != nil {
		return nil, h.listErr
	}
	return h.consents[subject], nil
}

func (h *fakeAdmin) RevokeConsent(ctx context.Context, subject, clientID string) error {
	h.revoked = append(h.revoked, revocation{subject, clientID})
	if h.revokeErr != nil {
		return h.revokeErr
	}
	var kept []hydra.ConsentSession
	for _, cs := range h.consents[subject] {
		if cs.Client.ID != clientID {
			kept = append(kept, cs)
		}
	}
	h.consents[subject] = kept
	return nil
}

func (h *fakeAdmin) RevokeAllConsents(ctx context.Context, subject string) error {
	h.revokedAll = append(h.revokedAll, subject)
	if h.revokeErr != nil {
		return h.revokeErr
	}
	delete(h.consents, subject)
	return nil
}

func (h *fakeAdmin) OAuthClient(ctx context.Context, id string) (hydra.OAuthClient, error) {
	h.clientReads++
	if h.clientErr != nil {
		return hydra.OAuthClient{}, h.clientErr
	}
	c, ok := h.clients[id]
	if !ok {
		return hydra.OAuthClient{}, hydra.ErrNotFound
	}
	return c, nil
}

// connect gives subject a consent session with client c, as the consent
// page's "Allow" does.
func (h *fakeAdmin) connect(subject string, c hydra.OAuthClient, at time.Time, scopes ...string) {
	h.clients[c.ID] = c
	h.consents[subject] = append(h.consents[subject], hydra.ConsentSession{Client: c, GrantScope: scopes, GrantedAt: at})
}

// --- identity.TOTPManager --------------------------------------------------

// fakeTOTP is an identity source's two-step part: it keeps whether the
// account has an authenticator, one enrolment, and every call with its Who.
type fakeTOTP struct {
	on        map[string]bool // by subject
	enrolment identity.Enrollment
	rightCode string
	// err makes the named method fail with it.
	err   map[string]error
	calls []string
	who   []identity.Who
}

func newFakeTOTP() *fakeTOTP {
	return &fakeTOTP{
		on:        map[string]bool{},
		enrolment: identity.Enrollment{ID: "enr-1", Secret: "JBSWY3DPEHPK3PXP", URI: "otpauth://totp/Blink:ana?secret=JBSWY3DPEHPK3PXP&issuer=Blink", ExpiresAt: time.Now().Add(10 * time.Minute)},
		rightCode: "123456",
		err:       map[string]error{},
	}
}

func (f *fakeTOTP) record(method string, who identity.Who) error {
	f.calls = append(f.calls, method)
	f.who = append(f.who, who)
	return f.err[method]
}

// changes counts the calls that change something (all but the reads).
func (f *fakeTOTP) changes() int {
	n := 0
	for _, c := range f.calls {
		if c != "TOTPStatus" && c != "RecoveryCodesLeft" {
			n++
		}
	}
	return n
}

func (f *fakeTOTP) TOTPStatus(ctx context.Context, who identity.Who) (bool, error) {
	if err := f.record("TOTPStatus", who); err != nil {
		return false, err
	}
	return f.on[who.Subject], nil
}

func (f *fakeTOTP) BeginTOTP(ctx context.Context, who identity.Who) (identity.Enrollment, error) {
	if err := f.record("BeginTOTP", who); err != nil {
		return identity.Enrollment{}, err
	}
	return f.enrolment, nil
}

func (f *fakeTOTP) confirm(who identity.Who, enrollmentID, code string) error {
	switch {
	case enrollmentID != f.enrolment.ID:
		return identity.ErrEnrollmentGone
	case code != f.rightCode:
		return identity.ErrWrongCode
	}
	f.on[who.Subject] = true
	return nil
}

func (f *fakeTOTP) ConfirmTOTP(ctx context.Context, who identity.Who, enrollmentID, code string) error {
	if err := f.record("ConfirmTOTP", who); err != nil {
		return err
	}
	return f.confirm(who, enrollmentID, code)
}

func (f *fakeTOTP) RemoveTOTP(ctx context.Context, who identity.Who) error {
	if err := f.record("RemoveTOTP", who); err != nil {
		return err
	}
	if !f.on[who.Subject] {
		return identity.ErrTOTPOff
	}
	f.on[who.Subject] = false
	return nil
}

// fakeRecoveryTOTP is fakeTOTP of a source with recovery codes (our users table).
type fakeRecoveryTOTP struct {
	*fakeTOTP
	left int
}

var tenCodes = []string{"aaaa-bbbb-cccc-dddd", "eeee-ffff-gggg-hhhh", "iiii-jjjj-kkkk-llll", "mmmm-nnnn-oooo-pppp", "qqqq-rrrr-ssss-tttt",
	"uuuu-vvvv-wwww-xxxx", "yyyy-zzzz-2222-3333", "4444-5555-6666-7777", "abab-cdcd-efef-ghgh", "ijij-klkl-mnmn-opop"}

func (f *fakeRecoveryTOTP) ConfirmTOTPWithRecoveryCodes(ctx context.Context, who identity.Who, enrollmentID, code string) ([]string, error) {
	if err := f.record("ConfirmTOTPWithRecoveryCodes", who); err != nil {
		return nil, err
	}
	if err := f.confirm(who, enrollmentID, code); err != nil {
		return nil, err
	}
	f.left = len(tenCodes)
	return tenCodes, nil
}

func (f *fakeRecoveryTOTP) NewRecoveryCodes(ctx context.Context, who identity.Who) ([]string, error) {
	if err := f.record("NewRecoveryCodes", who); err != nil {
		return nil, err
	}
	if !f.on[who.Subject] {
		return nil, identity.ErrTOTPOff
	}
	f.left = len(tenCodes)
	return tenCodes, nil
}

func (f *fakeRecoveryTOTP) RecoveryCodesLeft(ctx context.Context, who identity.Who) (int, error) {
	if err := f.record("RecoveryCodesLeft", who); err != nil {
		return 0, err
	}
	return f.left, nil
}

func (f *fakeRecoveryTOTP) CheckRecoveryCode(ctx context.Context, req identity.TOTPRequest) (store.TOTPVerdict, store.Flow, error) {
	return "", store.Flow{}, errors.New("the account page never checks a recovery code")
}

// --- Hydra's public API ----------------------------------------------------

const (
	testClientID     = "account-page"
	testClientSecret = "s3cret-of-the-account-page"
	testPublicURL    = "https://login.blink.test"
	testRedirectURI  = testPublicURL + "/account/callback"
)

var (
	keysOnce           sync.Once
	hydraKey, rogueKey *rsa.PrivateKey
)

// signingKeys makes Hydra's key and another one (a forger's) once per run.
func signingKeys() (*rsa.PrivateKey, *rsa.PrivateKey) {
	keysOnce.Do(func() {
		var err error
		if hydraKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rogueKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return hydraKey, rogueKey
}

// grant is one authorization code Hydra issued.
type grant struct {
	challenge string // PKCE S256 code_challenge
	redirect  string
	idToken   string
	used      bool
}

// fakePublic is Hydra's public endpoints: the token endpoint and its JWKS.
type fakePublic struct {
	srv        *httptest.Server
	issuer     string // as Hydra writes it in tokens (with the trailing slash of urls.self.issuer)
	key        *rsa.PrivateKey
	kid        string
	mu         sync.Mutex
	codes      map[string]*grant
	tokenCalls int
	// forge signs the next ID tokens with a key that is not Hydra's.
	forge bool
}

func newFakePublic(t *testing.T) *fakePublic {
	key, _ := signingKeys()
	p := &fakePublic{key: key, kid: "b1d2c3e4-hydra-openid-id-token", codes: map[string]*grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
			"use": "sig", "kty": "RSA", "kid": p.kid, "alg": "RS256",
			"n": b64(p.key.N.Bytes()), "e": b64(big.NewInt(int64(p.key.E)).Bytes()),
		}}})
	})
	mux.HandleFunc("POST /oauth2/token", p.token)
	p.srv = httptest.NewServer(mux)
	p.issuer = p.srv.URL + "/"
	t.Cleanup(p.srv.Close)
	return p
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// oauthError is how Hydra's token endpoint refuses (RFC 6749 section 5.2).
func oauthError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": "The provided authorization grant is invalid, expired, revoked, or was issued to another client."})
}

func (p *fakePublic) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokenCalls++
	id, sec, ok := r.BasicAuth()
	// client_secret_basic form-encodes both before base64 (RFC 6749 section 2.3.1).
	id, _ = url.QueryUnescape(id)
	sec, _ = url.QueryUnescape(sec)
	if !ok || id != testClientID || sec != testClientSecret {
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "authorization_code" {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	g, ok := p.codes[r.PostForm.Get("code")]
	if !ok || g.used {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	g.used = true
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if b64(sum[:]) != g.challenge || r.PostForm.Get("redirect_uri") != g.redirect {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": "ory_at_" + randomText(), "token_type": "bearer", "expires_in": 3599,
		"scope": "openid", "id_token": g.idToken,
	})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randomText() string {
	b := make([]byte, 16)
	rand.Read(b)
	return b64(b)
}

// signJWT signs claims with RS256 under kid, as Hydra signs its tokens.
func signJWT(key *rsa.PrivateKey, kid string, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	c, _ := json.Marshal(claims)
	in := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return in + "." + b64(sig)
}

// idTokenClaims are the claims of Hydra's ID token for the page's client.
func (p *fakePublic) idTokenClaims(subject, sid, nonce string, authTime time.Time) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": p.issuer, "sub": subject, "aud": []string{testClientID}, "exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(), "rat": now.Unix(), "auth_time": authTime.Unix(), "nonce": nonce, "sid": sid,
		"jti": randomText(), "acr": "0", "amr": []string{"email"},
	}
}

// logoutTokenClaims are the claims of Hydra's back-channel logout token.
func (p *fakePublic) logoutTokenClaims(sid string) map[string]any {
	return map[string]any{
		"iss": p.issuer, "aud": []string{testClientID}, "iat": time.Now().Unix(), "jti": randomText(), "sid": sid,
		"events": map[string]any{backChannelLogoutEvent: map[string]any{}},
	}
}

// authorize is Hydra's /oauth2/auth after the person signed in: it reads the
// authorization URL the page sent the browser to, issues a code for an ID
// token of subject (edit changes its claims) and returns where Hydra sends
// the browser back.
func (p *fakePublic) authorize(t *testing.T, authURL, subject, sid string, authTime time.Time, edit func(map[string]any)) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil || u.Scheme+"://"+u.Host != p.srv.URL || u.Path != "/oauth2/auth" {
		t.Fatalf("the page sent the browser to %q, not Hydra's /oauth2/auth", authURL)
	}
	q := u.Query()
	if q.Get("client_id") != testClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("redirect_uri") != testRedirectURI || q.Get("scope") != "openid" || q.Get("state") == "" || q.Get("nonce") == "" {
		t.Fatalf("authorization request %v", q)
	}
	claims := p.idTokenClaims(subject, sid, q.Get("nonce"), authTime)
	if edit != nil {
		edit(claims)
	}
	code := "ory_ac_" + randomText()
	p.mu.Lock()
	key := p.key
	if p.forge {
		key = rogueKey
	}
	p.codes[code] = &grant{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), idToken: signJWT(key, p.kid, claims)}
	p.mu.Unlock()
	return "/account/callback?" + url.Values{"code": {code}, "scope": {"openid"}, "state": {q.Get("state")}}.Encode()
}

// --- The page, and a browser to use it -------------------------------------

type env struct {
	t      *testing.T
	store  *fakeStore
	admin  *fakeAdmin
	public *fakePublic
	deps   Deps
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, store: newFakeStore(), admin: newFakeAdmin(), public: newFakePublic(t)}
	hydraPublic, _ := url.Parse(e.public.srv.URL)
	e.deps = Deps{
		Hydra: e.admin, Store: e.store,
		OIDC: NewOIDC(hydraPublic, testClientID, testClientSecret, testRedirectURI),
		Keys: secret.NewKeys(bytes.Repeat([]byte{7}, 32)),
		Settings: Settings{
			ClientID: testClientID, PublicURL: testPublicURL, SecureCookies: true, SessionTTL: time.Hour,
		},
	}
	return e
}

// withTOTP gives the page a two-step source: with recovery codes (our users
// table) or without (Blink core).
func (e *env) withTOTP(recovery bool) *fakeTOTP {
	f := newFakeTOTP()
	if recovery {
		e.deps.TOTP = &fakeRecoveryTOTP{fakeTOTP: f}
	} else {
		e.deps.TOTP = f
	}
	return f
}

// handler is the page's routes, as server/routes.go mounts them.
func (e *env) handler() http.Handler {
	mux := http.NewServeMux()
	d := e.deps
	mux.Handle("GET /account", HandleShow(d))
	mux.Handle("GET /account/callback", HandleCallback(d))
	mux.Handle("POST /account/apps", HandleApps(d))
	mux.Handle("GET /account/remove-all", HandleConfirmRemoveAll(d))
	mux.Handle("POST /account/two-step", HandleTwoStep(d))
	mux.Handle("GET /account/two-step/on", HandleTwoStepOn(d))
	mux.Handle("GET /account/two-step/off", HandleTwoStepOff(d))
	mux.Handle("GET /account/two-step/recovery", HandleRecoveryCodes(d))
	mux.Handle("POST /account/passkeys", HandlePasskeys(d))
	mux.Handle("GET /account/passkeys/add", HandlePasskeyAdd(d))
	mux.Handle("GET /account/passkeys/remove", HandlePasskeyRemove(d))
	mux.Handle("POST /account/signout", HandleSignOut(d))
	mux.Handle("GET /account/signed-out", HandleSignedOut(d))
	mux.Handle("POST "+BackChannelLogoutPath, HandleBackChannelLogout(d))
	return mux
}

// browser keeps cookies between requests like a browser does.
type browser struct {
	e       *env
	ip      string
	lang    i18n.Lang
	cookies map[string]*http.Cookie
}

func (e *env) browser(ip string) *browser {
	return &browser{e: e, ip: ip, cookies: map[string]*http.Cookie{}}
}

func (b *browser) request(method, target string, form url.Values) *httptest.ResponseRecorder {
	b.e.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r.RemoteAddr = b.ip + ":50000"
	if b.lang != "" {
		r = r.WithContext(i18n.WithLang(r.Context(), b.lang))
	}
	for _, c := range b.cookies {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	w := httptest.NewRecorder()
	// As the middleware sets it, so a logo's origin can be added.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src 'self'")
	b.e.handler().ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return w
}

func (b *browser) get(target string) *httptest.ResponseRecorder {
	return b.request(http.MethodGet, target, nil)
}

func (b *browser) post(target string, form url.Values) *httptest.ResponseRecorder {
	return b.request(http.MethodPost, target, form)
}

// signIn opens /account without a session, signs in at Hydra as subject
// (a login session sid, signed in at authTime) and comes back through the
// callback: the page's session cookie is in the browser after it.
func (b *browser) signIn(subject, sid string, authTime time.Time) {
	b.e.t.Helper()
	w := b.get("/account")
	if w.Code != http.StatusSeeOther {
		b.e.t.Fatalf("GET /account without a session: %d, want a sign-in", w.Code)
	}
	b.finishSignIn(w.Header().Get("Location"), subject, sid, authTime, "/account")
}

// finishSignIn signs in at Hydra for the authorization URL and expects the
// callback to send the browser to returnTo.
func (b *browser) finishSignIn(authURL, subject, sid string, authTime time.Time, returnTo string) {
	b.e.t.Helper()
	w := b.get(b.e.public.authorize(b.e.t, authURL, subject, sid, authTime, nil))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != returnTo {
		b.e.t.Fatalf("callback: %d to %q, want %q\n%s", w.Code, w.Header().Get("Location"), returnTo, w.Body)
	}
	if b.cookies["__Host-"+accountCookieName] == nil {
		b.e.t.Fatal("the callback set no account cookie")
	}
}

const accountCookieName = "blink_account"

// text is a page's text with HTML's escapes undone, for looking up catalog strings.
func text(w *httptest.ResponseRecorder) string { return html.UnescapeString(w.Body.String()) }

// says reports whether the page shows the catalog's text of key in English.
func says(w *httptest.ResponseRecorder, key string, args ...any) bool {
	return strings.Contains(text(w), i18n.English.T(key, args...))
}
