// Package corestandin is a stand-in of Blink core for tests and for
// `blink-consent dev --identity blink`: the /auth/* routes apps/consent uses
// (all but Telegram Passport) and the two GraphQL queries (me,
// globals.supportedCountries), answering in core's exact wire format,
// including its three error shapes and its limits. It keeps everything in
// memory. It is not Kratos: sessions are just tokens this process issued.
// docs/blink-core.md says what it does and does not do.
package corestandin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultPhoneCode is the code every phone sign-in accepts unless
// SetPhoneCode changes it (like core's UNSECURE_DEFAULT_LOGIN_CODE).
const DefaultPhoneCode = "000000"

// GeetestID is the Geetest "gt" /phone/captcha answers with.
const GeetestID = "5t4nd1n0000000000000000000000000"

// EmailCodeLifetime is how long an email code is valid (Kratos' default).
const EmailCodeLifetime = 15 * time.Minute

// PhoneCodeLifetime is how long a phone verification lives at core's SMS
// provider (Twilio Verify's default: 10 minutes).
const PhoneCodeLifetime = 10 * time.Minute

// phoneVerification is one code core's provider sent, until it is approved
// or expires.
type phoneVerification struct {
	code    string
	expires time.Time
}

// Country is one entry of globals.supportedCountries as core spells it:
// channels in upper case ("SMS", "WHATSAPP", "TELEGRAM").
type Country struct {
	ID       string
	Channels []string
}

// DefaultCountries is what the stand-in offers until SetCountries.
func DefaultCountries() []Country {
	return []Country{
		{ID: "US", Channels: []string{"TELEGRAM", "SMS", "WHATSAPP"}},
		{ID: "SV", Channels: []string{"SMS", "WHATSAPP"}},
		{ID: "GB", Channels: []string{"SMS"}},
		{ID: "ES", Channels: []string{"SMS", "WHATSAPP"}},
	}
}

// Call is one request the stand-in answered.
type Call struct {
	Path   string // e.g. /auth/email/code, /graphql
	RealIP string // the X-Real-IP header as received ("" when absent)
	Status int
	// Traceparent is the W3C trace context header as received ("" when absent),
	// Baggage the W3C baggage header.
	Traceparent, Baggage string
}

type identity struct {
	id            string
	email         string
	emailVerified bool
	phone         string
	totpSecret    []byte
}

type emailFlow struct {
	email   string
	code    string
	expires time.Time
	tries   int
	used    bool
}

type session struct {
	identityID string
	elevated   bool
}

// Standin is a running stand-in of core.
type Standin struct {
	srv  *http.Server
	base string

	mu             sync.Mutex
	limits         Limits
	strictGeetest  bool
	fixedPhoneCode string
	onMessage      func(channel, to, text string)
	now            func() time.Time
	down           bool
	countries      []Country
	identities     map[string]*identity
	byEmail        map[string]*identity
	byPhone        map[string]*identity
	emailFlows     map[string]*emailFlow
	pendingPhone   map[string]phoneVerification // by phone, when codes are random
	failNext       map[string]Failure           // by route: the next answer
	lastCode       map[string]string            // email or phone → last code sent
	sessions       map[string]*session
	challenges     map[string]bool
	registrations  map[string]*registration
	deniedIPs      map[string]bool
	deniedPhones   map[string]bool
	seenIPs        []string
	calls          []Call
	counters       limiter
	telegram       *telegramState // telegram.go
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves until Close.
func Start(addr string) (*Standin, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("corestandin: %w", err)
	}
	s := &Standin{
		base:           "http://" + ln.Addr().String(),
		limits:         DefaultLimits(),
		fixedPhoneCode: DefaultPhoneCode,
		now:            time.Now,
		countries:      DefaultCountries(),
		identities:     map[string]*identity{},
		byEmail:        map[string]*identity{},
		byPhone:        map[string]*identity{},
		emailFlows:     map[string]*emailFlow{},
		pendingPhone:   map[string]phoneVerification{},
		failNext:       map[string]Failure{},
		lastCode:       map[string]string{},
		sessions:       map[string]*session{},
		challenges:     map[string]bool{},
		registrations:  map[string]*registration{},
		deniedIPs:      map[string]bool{},
		deniedPhones:   map[string]bool{},
	}
	s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server.
func (s *Standin) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		return s.srv.Close()
	}
	return nil
}

// URL is the stand-in's base URL (http://host:port).
func (s *Standin) URL() string { return s.base }

// AuthURL is what CORE_AUTH_URL points at.
func (s *Standin) AuthURL() string { return s.base + "/auth" }

// GraphQLURL is what GRAPHQL_ENDPOINT points at.
func (s *Standin) GraphQLURL() string { return s.base + "/graphql" }

// GeetestScriptURL serves the stand-in Geetest v3 browser script.
func (s *Standin) GeetestScriptURL() string { return s.base + "/static/gt.js" }

// AddIdentity creates an account with a verified email and/or phone number
// (either may be empty) and returns its id.
func (s *Standin) AddIdentity(email, phone string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := &identity{id: newUUID(), email: strings.ToLower(strings.TrimSpace(email)), emailVerified: email != ""}
	if phone != "" {
		if p, ok := normalizePhone(phone); ok {
			id.phone = p
		} else {
			id.phone = phone
		}
	}
	s.addLocked(id)
	return id.id
}

func (s *Standin) addLocked(id *identity) {
	s.identities[id.id] = id
	if id.email != "" {
		s.byEmail[id.email] = id
	}
	if id.phone != "" {
		s.byPhone[id.phone] = id
	}
}

// Lookup is the id of the account with this email or phone number, "" if none.
func (s *Standin) Lookup(emailOrPhone string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id := s.byEmail[strings.ToLower(emailOrPhone)]; id != nil {
		return id.id
	}
	if p, ok := normalizePhone(emailOrPhone); ok {
		if id := s.byPhone[p]; id != nil {
			return id.id
		}
	}
	return ""
}

// EnrolTOTP gives the account an authenticator (SHA1, 6 digits, 30 s) and
// returns its secret; TOTPCode makes codes from it. Panics on an unknown id.
func (s *Standin) EnrolTOTP(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	ident := s.identities[id]
	if ident == nil {
		panic("corestandin: EnrolTOTP of an unknown identity " + id)
	}
	secret := make([]byte, 20)
	rand.Read(secret)
	ident.totpSecret = secret
	return secret
}

// SetUnverified marks the account's email address unverified: /email/login
// then answers 400 "Unknown error", and me says verified:false.
func (s *Standin) SetUnverified(email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id := s.byEmail[strings.ToLower(email)]; id != nil {
		id.emailVerified = false
	}
}

// Code is the last code sent to this email address or phone number ("" if none).
func (s *Standin) Code(to string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.lastCode[strings.ToLower(to)]; ok {
		return c
	}
	if p, ok := normalizePhone(to); ok {
		return s.lastCode[p]
	}
	return ""
}

// SeenIPs are the X-Real-IP headers of every /auth call, in order, as received.
func (s *Standin) SeenIPs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seenIPs...)
}

// Calls are every request answered, in order.
func (s *Standin) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Down makes every /auth and /graphql request answer 503, as a proxy in
// front of a dead core would.
func (s *Standin) Down(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetLimits replaces the limits and forgets every counter.
func (s *Standin) SetLimits(l Limits) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limits = l
	s.counters = limiter{}
}

// Limits are the limits in force.
func (s *Standin) Limits() Limits {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits
}

// SetPhoneCode sets the code every phone sign-in accepts; "" makes each
// /phone/code send a new random code, valid once.
func (s *Standin) SetPhoneCode(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fixedPhoneCode = code
}

// SetOnMessage is called (outside the stand-in's lock) with every message
// core would have sent: channel "email", "sms" or "whatsapp".
func (s *Standin) SetOnMessage(fn func(channel, to, text string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onMessage = fn
}

// SetClock replaces time.Now (codes' lifetime, limits' windows, TOTP).
func (s *Standin) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetCountries replaces globals.supportedCountries and the per-country
// channel check of /phone/code.
func (s *Standin) SetCountries(c []Country) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.countries = append([]Country(nil), c...)
}

// DenyOnboardingIP makes /phone/login refuse to create accounts from ip.
func (s *Standin) DenyOnboardingIP(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deniedIPs[ip] = true
}

// DenyOnboardingPhone makes /phone/login refuse to create an account for phone.
func (s *Standin) DenyOnboardingPhone(phone string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := normalizePhone(phone); ok {
		phone = p
	}
	s.deniedPhones[phone] = true
}

// --- HTTP plumbing ---

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (s *Standin) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /static/gt.js", serveGeetestScript)
	mux.HandleFunc("GET "+telegramScriptPath, serveTelegramScript)
	mux.HandleFunc("GET "+telegramConfirmPath, s.telegramConfirm)
	mux.HandleFunc("/auth/", s.auth)
	mux.HandleFunc("/graphql", s.graphql)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &recorder{ResponseWriter: w}
		s.mu.Lock()
		down := s.down && r.URL.Path != "/static/gt.js"
		s.mu.Unlock()
		if down {
			http.Error(rec, "no healthy upstream", http.StatusServiceUnavailable)
		} else {
			mux.ServeHTTP(rec, r)
		}
		s.mu.Lock()
		s.calls = append(s.calls, Call{Path: r.URL.Path, RealIP: r.Header.Get("X-Real-IP"), Status: rec.status, Traceparent: r.Header.Get("traceparent"), Baggage: r.Header.Get("baggage")})
		s.mu.Unlock()
	})
}

// writeJSON answers as Express's res.send(object) does: no HTML escaping, no
// trailing newline.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

// (S) {"error":"text"}
func errorS(w http.ResponseWriter, status int, text string) {
	writeJSON(w, status, obj{{"error", text}})
}

// (O) {"error":{"name":"ErrorClass","level":"info"}}: a serialized DomainError.
func errorO(w http.ResponseWriter, name string) {
	writeJSON(w, http.StatusBadRequest, obj{{"error", obj{{"name", name}, {"level", "info"}}}})
}

// obj is a JSON object that keeps its keys in order, as JavaScript does.
type obj []kv

type kv struct {
	key   string
	value any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		var v bytes.Buffer
		enc := json.NewEncoder(&v)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(f.value); err != nil {
			return nil, err
		}
		buf.Write(bytes.TrimRight(v.Bytes(), "\n"))
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// readBody reads a JSON or urlencoded body into strings, as Express's two
// body parsers would leave it in req.body.
func readBody(w http.ResponseWriter, r *http.Request) (map[string]string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 100<<10)
	out := map[string]string{}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		var raw map[string]any
		dec := json.NewDecoder(r.Body)
		if err := dec.Decode(&raw); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "request entity too large", http.StatusRequestEntityTooLarge)
			} else {
				http.Error(w, "Bad Request", http.StatusBadRequest)
			}
			return nil, false
		}
		for k, v := range raw {
			switch v := v.(type) {
			case string:
				out[k] = v
			case float64, bool:
				out[k] = fmt.Sprint(v)
			}
		}
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		if err := r.ParseForm(); err != nil {
			http.Error(w, "Bad Request", http.StatusBadRequest)
			return nil, false
		}
		for k := range r.PostForm {
			out[k] = r.PostForm.Get(k)
		}
	}
	return out, true
}

// realIP is core's parseIps: the first comma-separated item of X-Real-IP.
func realIP(r *http.Request) (string, bool) {
	v := r.Header.Get("X-Real-IP")
	first, _, _ := strings.Cut(v, ",")
	ip := net.ParseIP(strings.TrimSpace(first))
	if ip == nil {
		return "", false
	}
	return ip.String(), true
}

func (s *Standin) auth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seenIPs = append(s.seenIPs, r.Header.Get("X-Real-IP"))
	s.mu.Unlock()
	ip, ok := realIP(r)
	if !ok {
		errorS(w, http.StatusBadRequest, textIPNotDefined)
		return
	}
	var route func(http.ResponseWriter, string, map[string]string)
	switch strings.TrimPrefix(r.URL.Path, "/auth") {
	case "/email/code":
		route = s.emailCode
	case "/email/login":
		route = s.emailLogin
	case "/totp/validate":
		route = s.totpValidate
	case "/phone/captcha":
		route = s.phoneCaptcha
	case "/phone/code":
		route = s.phoneCode
	case "/phone/login":
		route = s.phoneLogin
	case "/telegram-passport/request-params":
		route = s.telegramRequestParams
	case "/telegram-passport/login":
		route = s.telegramLogin
	}
	if route == nil || r.Method != http.MethodPost {
		http.Error(w, "Cannot "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if f, ok := s.takeFailure(r.URL.Path); ok {
		f.write(w)
		return
	}
	route(w, ip, body)
}

// send delivers a message outside the lock.
func (s *Standin) send(channel, to, text string) {
	s.mu.Lock()
	fn := s.onMessage
	s.mu.Unlock()
	if fn != nil {
		fn(channel, to, text)
	}
}

// --- identifiers ---

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

const alphanumerics = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func newToken() string {
	return "ory_st_" + randomFrom(alphanumerics, 32)
}

func newCode() string { return randomFrom("0123456789", 6) }

func randomFrom(alphabet string, n int) string {
	out := make([]byte, n)
	var b [1]byte
	for i := range out {
		for {
			rand.Read(b[:])
			// rejection sampling keeps every symbol equally likely
			if int(b[0]) < 256-256%len(alphabet) {
				out[i] = alphabet[int(b[0])%len(alphabet)]
				break
			}
		}
	}
	return string(out)
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return json.NewDecoder(http.MaxBytesReader(w, r.Body, 100<<10)).Decode(v)
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// RequireGeetestAnswer makes /phone/code accept only the answer the stand-in's
// gt.js gives for the challenge (GeetestAnswer), as Geetest's server checks
// its own; off, any non-empty answer to an issued challenge passes.
func (s *Standin) RequireGeetestAnswer(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strictGeetest = on
}

// GeetestAnswer is what the stand-in's gt.js answers for challenge:
// geetest_validate and geetest_seccode.
func GeetestAnswer(challenge string) (validate, seccode string) {
	v := geetestValidate(challenge)
	return v, v + "|jordan"
}

// geetestValidate mirrors gt.js: "standin" and the first 25 characters of
// the reversed challenge.
func geetestValidate(challenge string) string {
	r := []rune(challenge)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	if len(r) > 25 {
		r = r[:25]
	}
	return "standin" + string(r)
}
