package login

// In-memory fakes of the login flow's small interfaces, in the style of
// Dex's in-memory storage: they keep the same state the real ones keep in
// PostgreSQL and Hydra (flows, codes, claimed challenges, sessions, audit
// events; login requests and their answers) and refuse the same way
// (internal/store/flows.go, internal/identity/identity.go), so a test can
// assert on the data a rule protects.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/challenges/challengestest"
	"github.com/blinkbitcoin/blink-consent/internal/codes"
	"github.com/blinkbitcoin/blink-consent/internal/hydra"
	"github.com/blinkbitcoin/blink-consent/internal/identity"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// ---- Hydra ----------------------------------------------------------------

// hydraCall is one admin call the fake Hydra received.
type hydraCall struct {
	Op        string // "get", "accept" or "reject"
	Challenge string
	Accept    hydra.AcceptLogin
	Reject    hydra.Rejection
}

// fakeHydra answers like Hydra's admin API: a challenge once accepted or
// rejected is handled (410 with where it went, hydra.HandledError) for every
// later call, and an unknown challenge is hydra.ErrNotFound.
type fakeHydra struct {
	mu sync.Mutex
	// requests are the login requests Hydra holds, by challenge.
	requests map[string]hydra.LoginRequest
	// answered is where each handled challenge sent the browser.
	answered map[string]string
	calls    []hydraCall
	// getErr, acceptErr and rejectErr make the next calls of that kind fail
	// (hydra.ErrUnavailable: Hydra down) without handling the challenge.
	getErr, acceptErr, rejectErr error
}

func newFakeHydra() *fakeHydra {
	return &fakeHydra{requests: map[string]hydra.LoginRequest{}, answered: map[string]string{}}
}

// add makes Hydra hold a login request.
func (h *fakeHydra) add(lr hydra.LoginRequest) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if lr.RequestURL == "" {
		lr.RequestURL = "http://hydra.test/oauth2/auth?client_id=" + lr.Client.ID + "&state=" + lr.Challenge
	}
	h.requests[lr.Challenge] = lr
}

func (h *fakeHydra) Login(ctx context.Context, challenge string) (hydra.LoginRequest, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, hydraCall{Op: "get", Challenge: challenge})
	if h.getErr != nil {
		return hydra.LoginRequest{}, h.getErr
	}
	if to, ok := h.answered[challenge]; ok {
		return hydra.LoginRequest{}, &hydra.HandledError{RedirectTo: to}
	}
	lr, ok := h.requests[challenge]
	if !ok {
		return hydra.LoginRequest{}, hydra.ErrNotFound
	}
	return lr, nil
}

func (h *fakeHydra) answer(op, challenge string, a hydra.AcceptLogin, rj hydra.Rejection, failWith error) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, hydraCall{Op: op, Challenge: challenge, Accept: a, Reject: rj})
	if failWith != nil {
		return "", failWith
	}
	if to, ok := h.answered[challenge]; ok {
		return "", &hydra.HandledError{RedirectTo: to}
	}
	if _, ok := h.requests[challenge]; !ok {
		return "", hydra.ErrNotFound
	}
	to := "http://hydra.test/oauth2/auth?login_verifier=" + op + "-" + challenge
	h.answered[challenge] = to
	return to, nil
}

func (h *fakeHydra) AcceptLogin(ctx context.Context, challenge string, a hydra.AcceptLogin) (string, error) {
	return h.answer("accept", challenge, a, hydra.Rejection{}, h.acceptErr)
}

func (h *fakeHydra) RejectLogin(ctx context.Context, challenge string, rj hydra.Rejection) (string, error) {
	return h.answer("reject", challenge, hydra.AcceptLogin{}, rj, h.rejectErr)
}

// answers are the accept and reject calls, in order (failed ones included).
func (h *fakeHydra) answers() []hydraCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hydraCall
	for _, c := range h.calls {
		if c.Op != "get" {
			out = append(out, c)
		}
	}
	return out
}

func (h *fakeHydra) count(op string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.calls {
		if c.Op == op {
			n++
		}
	}
	return n
}

// ---- Store ------------------------------------------------------------------

// code is a row of login_codes.
type code struct {
	Channel, Identifier, Value string
	Attempts                   int
	ExpiresAt                  time.Time
	Used, Superseded           bool
}

// sent is a message the outbox got: queued, or a decoy never sent.
type sent struct {
	Channel, Identifier, Code string
	Queued                    bool
}

// memStore is login.Store in memory, with the tables the identity source
// works on (codes, the outbox, failure counts, authenticator secrets).
type memStore struct {
	*challengestest.Challenges

	mu       sync.Mutex
	users    map[string]store.User
	flows    map[string]*store.Flow
	sessions map[string]session // Hydra login session id → its sign-in
	codes    map[string][]*code // flow id → its codes, oldest first
	outbox   []sent
	audited  []store.AuditEvent
	signIns  []store.SignIn
	reopened []string // flow ids
	// forgotten are the flows whose source state was dropped (cancel).
	forgotten []string
	// events count failures and sends by "bucket|key" (rate_events).
	events map[string]int
	// lockedIdentities have had their consecutive failures (identity_failures).
	lockedIdentities map[string]bool
	// totp is each two-step account's current authenticator code, usedSteps
	// the codes already used (a replay); recovery its unused recovery codes.
	totp       map[string]string
	usedSteps  map[string]bool
	recovery   map[string][]string
	totpTries  map[string]int // flow id → authenticator tries
	calls      map[string]int
	nextCode   int
	telegramOK map[string]bool // flow id → Telegram confirmed
	pk         passkeyTables

	// Failures to inject: the named statement fails and changes nothing.
	failStartFlow, failRecordSignIn, failComplete, failClear, failForget error
}

type session struct {
	userID string
	kind   store.SignInKind
}

func newMemStore(users ...store.User) *memStore {
	s := &memStore{
		Challenges: challengestest.NewChallenges(),
		users:      map[string]store.User{}, flows: map[string]*store.Flow{}, sessions: map[string]session{},
		codes: map[string][]*code{}, events: map[string]int{}, lockedIdentities: map[string]bool{},
		totp: map[string]string{}, usedSteps: map[string]bool{}, recovery: map[string][]string{},
		totpTries: map[string]int{}, calls: map[string]int{}, nextCode: 314159, telegramOK: map[string]bool{},
	}
	for _, u := range users {
		s.users[u.ID] = u
	}
	return s
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (s *memStore) count(name string) {
	s.calls[name]++
}

// flow returns a copy of flow id as stored, or the zero flow.
func (s *memStore) flow(id string) store.Flow {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.flows[id]; ok {
		return *f
	}
	return store.Flow{}
}

// claimed reports whether the challenge is marked used (used_challenges).
func (s *memStore) claimed(challenge string) bool {
	used, _ := s.Challenges.ChallengeUsed(context.Background(), challenge)
	return used
}

// redirect is where the challenge's answer went, as recorded.
func (s *memStore) redirect(challenge string) string {
	to, _ := s.Challenges.ChallengeRedirect(context.Background(), challenge)
	return to
}

// lock is lockFlow: the browser's open, unexpired flow, else ErrNotFound.
func (s *memStore) lock(id string, browserHash []byte) (*store.Flow, error) {
	f, ok := s.flows[id]
	if !ok || !bytes.Equal(f.BrowserHash, browserHash) || !f.ExpiresAt.After(time.Now()) {
		return nil, store.ErrNotFound
	}
	return f, nil
}

func (s *memStore) UseRememberedLogin(ctx context.Context, challenge, subject, sessionID string) (store.User, store.SignInKind, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := s.Mark(challenge)
	var kind store.SignInKind
	if ss, ok := s.sessions[sessionID]; ok && ss.userID == subject {
		kind = ss.kind
	}
	u, ok := s.users[subject]
	if !ok {
		return store.User{}, kind, first, store.ErrNotFound
	}
	return u, kind, first, nil
}

func (s *memStore) CompleteFlow(ctx context.Context, id, challenge string) (store.User, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("CompleteFlow")
	if s.failComplete != nil {
		return store.User{}, false, s.failComplete
	}
	f, ok := s.flows[id]
	if !ok || f.VerifiedAt == nil || (f.NeedsTOTP && f.TOTPVerifiedAt == nil) || f.CompletedAt != nil {
		return store.User{}, false, store.ErrFlowState
	}
	u, ok := s.users[f.UserID]
	if !ok {
		return store.User{}, false, store.ErrNotFound
	}
	if !s.Mark(challenge) {
		return store.User{}, false, store.ErrChallengeUsed
	}
	if !u.Active() {
		// The claim stays, for the caller to reject the login at Hydra.
		return u, false, nil
	}
	now := time.Now()
	f.CompletedAt, f.SourceState = &now, nil
	return u, true, nil
}

func (s *memStore) RecordSignIn(ctx context.Context, in store.SignIn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("RecordSignIn")
	if s.failRecordSignIn != nil {
		return s.failRecordSignIn
	}
	s.signIns = append(s.signIns, in)
	s.audited = append(s.audited, in.Event)
	s.Challenges.SetChallengeRedirect(ctx, in.Challenge, in.RedirectTo)
	if in.SessionID != "" {
		s.sessions[in.SessionID] = session{userID: in.Event.UserID, kind: in.Kind}
	}
	return nil
}

func (s *memStore) Audit(ctx context.Context, e store.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("Audit")
	s.audited = append(s.audited, e)
	return nil
}

func (s *memStore) StartFlow(ctx context.Context, f store.Flow, ttl time.Duration) (store.Flow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("StartFlow")
	if s.failStartFlow != nil {
		return store.Flow{}, s.failStartFlow
	}
	for _, e := range s.flows {
		if bytes.Equal(e.BrowserHash, f.BrowserHash) && e.Challenge == f.Challenge && e.CompletedAt == nil && e.ExpiresAt.After(time.Now()) {
			return *e, nil
		}
	}
	n := store.Flow{
		ID: newUUID(), BrowserHash: f.BrowserHash, Challenge: f.Challenge, RequestURL: f.RequestURL,
		ClientID: f.ClientID, ClientName: f.ClientName, Lang: f.Lang, HydraSessionID: f.HydraSessionID,
		ExpiresAt: time.Now().Add(ttl),
	}
	s.flows[n.ID] = &n
	return n, nil
}

func (s *memStore) FlowForBrowser(ctx context.Context, id string, browserHash []byte) (store.Flow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("FlowForBrowser")
	f, err := s.lock(id, browserHash)
	if err != nil {
		return store.Flow{}, err
	}
	return *f, nil
}

func (s *memStore) ClearIdentifier(ctx context.Context, id string, browserHash []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("ClearIdentifier")
	if s.failClear != nil {
		return s.failClear
	}
	f, err := s.lock(id, browserHash)
	if err != nil {
		return err
	}
	if f.VerifiedAt != nil || f.CompletedAt != nil {
		return store.ErrFlowState
	}
	f.Channel, f.Identifier, f.UserID, f.SourceState = "", "", "", nil
	for _, c := range s.codes[id] {
		c.Superseded = true
	}
	return nil
}

func (s *memStore) ReopenFlow(ctx context.Context, id, challenge string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("ReopenFlow")
	s.Challenges.ReleaseChallenge(ctx, challenge)
	if f, ok := s.flows[id]; ok {
		f.CompletedAt = nil
	}
	s.reopened = append(s.reopened, id)
	return nil
}

func (s *memStore) ForgetFlowState(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count("ForgetFlowState")
	if s.failForget != nil {
		return s.failForget
	}
	if f, ok := s.flows[id]; ok {
		f.SourceState = nil
	}
	s.forgotten = append(s.forgotten, id)
	return nil
}

// liveCode is the flow's code that can still be checked, or nil.
func (s *memStore) liveCode(flowID string) *code {
	cs := s.codes[flowID]
	if len(cs) == 0 {
		return nil
	}
	if c := cs[len(cs)-1]; !c.Used && !c.Superseded {
		return c
	}
	return nil
}

// lastSent is the newest message of the outbox.
func (s *memStore) lastSent() sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.outbox) == 0 {
		return sent{}
	}
	return s.outbox[len(s.outbox)-1]
}

func (s *memStore) userBy(channel, identifier string) (store.User, bool) {
	for _, u := range s.users {
		if channel == "email" && u.Email == identifier || channel != "email" && u.Phone == identifier {
			return u, true
		}
	}
	return store.User{}, false
}

// checkLimits refuses when a counted limit is reached (checkLimits).
func (s *memStore) checkLimits(limits []store.LimitKey) error {
	for _, l := range limits {
		if l.Limit.Max > 0 && s.events[l.Bucket+"|"+l.Key] >= l.Limit.Max {
			return &store.LimitError{Bucket: l.Bucket, RetryAfter: l.Limit.Window}
		}
	}
	return nil
}

func (s *memStore) record(limits []store.LimitKey) {
	for _, l := range limits {
		s.events[l.Bucket+"|"+l.Key]++
	}
}

// ---- Identity source --------------------------------------------------------

// fakeSource is identity.Source over memStore, doing what the postgres
// source does in its transactions: each method is one step of the flow,
// refusing a flow at another step with ErrFlowState and a limit with a
// *store.LimitError, changing nothing then.
type fakeSource struct {
	st               *memStore
	limits           identity.Limits
	createPhoneUsers bool
	// sendErr, verifyErr and totpErr are the source's own refusals
	// (identity.ErrRefused, ErrBotCheck, …), returned before any change.
	sendErr, verifyErr, totpErr error
	// triesErr makes TriesLeft fail.
	triesErr error
	// gone: the source says the code can no longer be checked (store.CodeGone).
	gone bool
	// botChecks are the BotCheck answers SendCode was given.
	botChecks []map[string]string
}

var (
	_ identity.Source        = (*fakeSource)(nil)
	_ identity.TriesCounter  = (*fakeSource)(nil)
	_ identity.RecoveryCodes = (*fakeSource)(nil)
)

func newFakeSource(st *memStore) *fakeSource {
	return &fakeSource{st: st, limits: identity.Limits{
		SendPerEmail: store.Limit{Max: 10, Window: time.Hour}, SendPerPhone: store.Limit{Max: 10, Window: time.Hour},
		SendPerIP:         store.Limit{Max: 50, Window: time.Hour},
		FailPerIdentifier: store.Limit{Max: 8, Window: 15 * time.Minute}, FailPerIP: store.Limit{Max: 50, Window: time.Hour},
		Code:             store.CodeLimits{TriesPerCode: 5, FailuresPerIdentity: 100, Lockout: time.Hour},
		TOTPTriesPerFlow: 5, Cooldown: time.Minute, MaxSends: 5,
	}}
}

func (src *fakeSource) SendCode(ctx context.Context, req identity.SendRequest) (identity.SendResult, error) {
	st := src.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.count("SendCode")
	src.botChecks = append(src.botChecks, req.BotCheck)
	if src.sendErr != nil {
		return identity.SendResult{}, src.sendErr
	}
	f, err := st.lock(req.Flow.ID, req.Flow.BrowserHash)
	if err != nil {
		return identity.SendResult{}, err
	}
	if f.VerifiedAt != nil || f.CompletedAt != nil {
		return identity.SendResult{}, store.ErrFlowState
	}
	if f.LastSentAt != nil {
		if since := time.Since(*f.LastSentAt); since < src.limits.Cooldown {
			return identity.SendResult{}, &store.LimitError{Bucket: "flow-cooldown", RetryAfter: src.limits.Cooldown - since}
		}
	}
	if f.Sends >= src.limits.MaxSends {
		return identity.SendResult{}, &store.LimitError{Bucket: "flow-sends", RetryAfter: time.Until(f.ExpiresAt)}
	}
	perIdentifier, bucket := src.limits.SendPerEmail, "send-email"
	if req.Channel != "email" {
		perIdentifier, bucket = src.limits.SendPerPhone, "send-phone"
	}
	limits := []store.LimitKey{{Bucket: "send-ip", Key: req.IPKey, Limit: src.limits.SendPerIP}, {Bucket: bucket, Key: req.Identifier, Limit: perIdentifier}}
	if err := st.checkLimits(limits); err != nil {
		return identity.SendResult{}, err
	}
	st.record(limits)
	u, found := st.userBy(req.Channel, req.Identifier)
	queued := (found && u.Active()) || (!found && req.Channel != "email" && src.createPhoneUsers)
	for _, c := range st.codes[f.ID] {
		c.Superseded = true
	}
	st.nextCode++
	value := fmt.Sprintf("%06d", st.nextCode%1000000)
	if req.Channel == "telegram" {
		// No message: the person confirms in Telegram; the source keeps its request.
		f.SourceState = []byte("telegram request")
	} else {
		st.codes[f.ID] = append(st.codes[f.ID], &code{Channel: req.Channel, Identifier: req.Identifier, Value: value, ExpiresAt: time.Now().Add(10 * time.Minute)})
		st.outbox = append(st.outbox, sent{Channel: req.Channel, Identifier: req.Identifier, Code: value, Queued: queued})
	}
	now := time.Now()
	f.Channel, f.Identifier, f.UserID, f.Remember, f.LastSentAt, f.CodeAttempts = req.Channel, req.Identifier, "", req.Remember, &now, 0
	f.Sends++
	return identity.SendResult{Queued: queued}, nil
}

func (src *fakeSource) VerifyCode(ctx context.Context, req identity.VerifyRequest) (store.Verdict, store.Flow, error) {
	st := src.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.count("VerifyCode")
	if src.verifyErr != nil {
		return store.CodeWrong, store.Flow{}, src.verifyErr
	}
	f, err := st.lock(req.Flow.ID, req.Flow.BrowserHash)
	if err != nil {
		return store.CodeWrong, store.Flow{}, err
	}
	switch {
	case f.CompletedAt != nil, f.Channel == "":
		return store.CodeWrong, store.Flow{}, store.ErrFlowState
	case f.VerifiedAt != nil:
		return store.CodeUsed, *f, nil // a double submit
	}
	failures := []store.LimitKey{{Bucket: "fail-ip", Key: req.IPKey, Limit: src.limits.FailPerIP}, {Bucket: "fail-identifier", Key: f.Identifier, Limit: src.limits.FailPerIdentifier}}
	if err := st.checkLimits(failures); err != nil {
		return store.CodeWrong, store.Flow{}, err
	}
	if f.Channel == "telegram" {
		return src.checkTelegram(f, req, failures)
	}
	if src.gone {
		st.record(failures)
		return store.CodeGone, *f, nil
	}
	c := st.liveCode(f.ID)
	if c == nil {
		st.record(failures)
		return store.CodeUsed, *f, nil
	}
	c.Attempts++
	verdict := store.CodeAccepted
	switch {
	case st.lockedIdentities[c.Identifier]:
		verdict = store.IdentityLocked
	case c.Attempts > src.limits.Code.TriesPerCode:
		verdict = store.CodeLocked
	case !c.ExpiresAt.After(time.Now()):
		verdict = store.CodeExpired
	case !matches(req.Code, c.Value):
		verdict = store.CodeWrong
	}
	if verdict != store.CodeAccepted {
		st.record(failures)
		uid := ""
		if u, ok := st.userBy(c.Channel, c.Identifier); ok {
			uid = u.ID
		}
		st.audited = append(st.audited, store.AuditEvent{UserID: uid, Action: store.ActionSignInFailed, Actor: "user", ClientID: f.ClientID,
			IP: req.ClientIP, Method: c.Channel, Result: verdict.String()})
		return verdict, *f, nil
	}
	u, err := src.account(c.Channel, c.Identifier)
	if err != nil {
		return store.CodeWrong, store.Flow{}, err
	}
	c.Used = true
	delete(st.events, "fail-identifier|"+c.Identifier)
	src.verified(f, u, req.NewBrowserHash)
	return store.CodeAccepted, *f, nil
}

// matches compares a typed code as the postgres source does: spaces and
// dashes dropped, and a malformed code is still a try that fails.
func matches(typed, value string) bool {
	code, ok := codes.Normalize(typed)
	return ok && code == value
}

// account is the account a right code signs in: the identifier's, or a new
// one for a new phone number when that is allowed.
func (src *fakeSource) account(channel, identifier string) (store.User, error) {
	st := src.st
	u, ok := st.userBy(channel, identifier)
	if !ok && channel != "email" && src.createPhoneUsers {
		u = store.User{ID: newUUID(), Phone: identifier, PhoneVerified: true, CreatedAt: time.Now()}
		st.users[u.ID] = u
		ok = true
	}
	if !ok {
		return store.User{}, errors.New("store: a verified code has no account")
	}
	return u, nil
}

func (src *fakeSource) verified(f *store.Flow, u store.User, browserHash []byte) {
	now := time.Now()
	_, twoStep := src.st.totp[u.ID]
	f.VerifiedAt, f.UserID, f.NeedsTOTP, f.BrowserHash = &now, u.ID, twoStep, browserHash
}

// checkTelegram asks whether Telegram confirmed the flow's request: pending
// until the test confirms it (telegramOK), each ask counted as a try.
func (src *fakeSource) checkTelegram(f *store.Flow, req identity.VerifyRequest, failures []store.LimitKey) (store.Verdict, store.Flow, error) {
	st := src.st
	if f.SourceState == nil {
		return store.CodeWrong, store.Flow{}, identity.ErrTelegramGone
	}
	if !st.telegramOK[f.ID] {
		if f.CodeAttempts >= src.limits.Code.TriesPerCode {
			return store.CodeLocked, *f, nil
		}
		before := *f
		f.CodeAttempts++
		return store.CodePending, before, nil
	}
	u, err := src.account(f.Channel, f.Identifier)
	if err != nil {
		return store.CodeWrong, store.Flow{}, err
	}
	src.verified(f, u, req.NewBrowserHash)
	return store.CodeAccepted, *f, nil
}

func (src *fakeSource) CheckTOTP(ctx context.Context, req identity.TOTPRequest) (store.TOTPVerdict, store.Flow, error) {
	return src.checkSecond(req, "totp")
}

func (src *fakeSource) CheckRecoveryCode(ctx context.Context, req identity.TOTPRequest) (store.TOTPVerdict, store.Flow, error) {
	return src.checkSecond(req, "recovery_code")
}

// checkSecond is the store's CheckTOTP: with the authenticator's code, or a
// recovery code (used up, audited).
func (src *fakeSource) checkSecond(req identity.TOTPRequest, factor string) (store.TOTPVerdict, store.Flow, error) {
	st := src.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.count("CheckTOTP")
	if src.totpErr != nil {
		return store.TOTPWrong, store.Flow{}, src.totpErr
	}
	f, err := st.lock(req.Flow.ID, req.Flow.BrowserHash)
	if err != nil {
		return store.TOTPWrong, store.Flow{}, err
	}
	if f.VerifiedAt == nil || !f.NeedsTOTP || f.TOTPVerifiedAt != nil || f.CompletedAt != nil {
		return store.TOTPWrong, store.Flow{}, store.ErrFlowState
	}
	failures := []store.LimitKey{{Bucket: "fail-ip", Key: req.IPKey, Limit: src.limits.FailPerIP}, {Bucket: "fail-totp", Key: f.UserID, Limit: src.limits.FailPerIdentifier}}
	if err := st.checkLimits(failures); err != nil {
		return store.TOTPWrong, store.Flow{}, err
	}
	st.totpTries[f.ID]++
	verdict := store.TOTPWrong
	switch {
	case st.totpTries[f.ID] > src.limits.TOTPTriesPerFlow:
		verdict = store.TOTPLocked
	case factor == "totp" && req.Code == st.totp[f.UserID] && st.usedSteps[f.UserID+"|"+req.Code]:
		verdict = store.TOTPReplayed
	case factor == "totp" && req.Code == st.totp[f.UserID]:
		st.usedSteps[f.UserID+"|"+req.Code] = true
		verdict = store.TOTPAccepted
	case factor == "recovery_code" && slices.Contains(st.recovery[f.UserID], req.Code):
		st.recovery[f.UserID] = slices.DeleteFunc(st.recovery[f.UserID], func(c string) bool { return c == req.Code })
		st.audited = append(st.audited, store.AuditEvent{UserID: f.UserID, Action: store.ActionRecoveryCodeUsed, Actor: "user",
			ClientID: f.ClientID, IP: req.ClientIP, Method: "recovery_code", Result: "ok"})
		verdict = store.TOTPAccepted
	}
	if verdict != store.TOTPAccepted {
		st.record(failures)
		return verdict, *f, nil
	}
	now := time.Now()
	f.TOTPVerifiedAt, f.BrowserHash, f.SecondFactor = &now, req.NewBrowserHash, ""
	if factor == "recovery_code" {
		f.SecondFactor = "recovery_code"
	}
	return store.TOTPAccepted, *f, nil
}

func (src *fakeSource) Account(ctx context.Context, id string) (identity.Account, error) {
	src.st.mu.Lock()
	defer src.st.mu.Unlock()
	u, ok := src.st.users[id]
	if !ok {
		return identity.Account{}, identity.ErrNotFound
	}
	return identity.FromUser(u), nil
}

// TriesLeft is the fewest of the live code's tries and the failure limits.
func (src *fakeSource) TriesLeft(ctx context.Context, f store.Flow, ipKey string) (int, bool, error) {
	st := src.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if src.triesErr != nil {
		return 0, false, src.triesErr
	}
	left, ofCode, counted := 0, false, false
	if c := st.liveCode(f.ID); c != nil {
		left, ofCode, counted = max(src.limits.Code.TriesPerCode-c.Attempts, 0), true, true
	}
	for _, l := range []store.LimitKey{{Bucket: "fail-ip", Key: ipKey, Limit: src.limits.FailPerIP}, {Bucket: "fail-identifier", Key: f.Identifier, Limit: src.limits.FailPerIdentifier}} {
		if n := max(l.Limit.Max-st.events[l.Bucket+"|"+l.Key], 0); !counted || n < left {
			left, ofCode, counted = n, false, true
		}
	}
	return left, ofCode, nil
}

// The rest of identity.RecoveryCodes belongs to the account page.
var errNotLogin = errors.New("fake: not part of signing in")

func (src *fakeSource) ConfirmTOTPWithRecoveryCodes(context.Context, identity.Who, string, string) ([]string, error) {
	return nil, errNotLogin
}
func (src *fakeSource) NewRecoveryCodes(context.Context, identity.Who) ([]string, error) {
	return nil, errNotLogin
}
func (src *fakeSource) RecoveryCodesLeft(context.Context, identity.Who) (int, error) {
	return 0, errNotLogin
}

// coreSource is a source that keeps its own country list and bot check, as
// Blink core does (identity.CountryLister, identity.BotChecker).
type coreSource struct {
	*fakeSource
	countries    []identity.Country
	countriesErr error
	botCheckErr  error
}

var (
	_ identity.CountryLister = coreSource{}
	_ identity.BotChecker    = coreSource{}
)

func (c coreSource) Countries(ctx context.Context) ([]identity.Country, error) {
	return c.countries, c.countriesErr
}

func (c coreSource) NewBotCheck(ctx context.Context, clientIP string) (identity.BotCheck, error) {
	if c.botCheckErr != nil {
		return identity.BotCheck{}, c.botCheckErr
	}
	return identity.BotCheck{ID: "gt-id", Challenge: "gt-challenge-for-" + clientIP, NewCaptcha: true}, nil
}

// telegramSource is coreSource with Telegram Passport.
type telegramSource struct {
	coreSource
	paramsErr error
}

var _ identity.TelegramPassport = telegramSource{}

func (t telegramSource) TelegramParams(f store.Flow) (identity.TelegramParams, error) {
	if t.paramsErr != nil {
		return identity.TelegramParams{}, t.paramsErr
	}
	return identity.TelegramParams{BotID: "42", Scope: `{"data":["phone_number"]}`, PublicKey: "PUBKEY", Nonce: "nonce-" + f.ID}, nil
}

// fakeCaptcha is a bot check that is on, and passes the token "ok".
type fakeCaptcha struct {
	err      error
	verified int
}

func (c *fakeCaptcha) SiteKey() string { return "site-key" }

func (c *fakeCaptcha) Verify(ctx context.Context, token, ip string) (bool, error) {
	c.verified++
	return token == "ok", c.err
}
