package corestandin

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests speak raw HTTP so that the stand-in's wire format is pinned by
// itself, not only through the client that reads it.

func start(t *testing.T) *Standin {
	t.Helper()
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type reply struct {
	status int
	body   string
	ctype  string
}

func post(t *testing.T, url, ip, body string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if ip != "" {
		req.Header.Set("X-Real-IP", ip)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header.Get("Content-Type")}
}

func expect(t *testing.T, got reply, status int, body string) {
	t.Helper()
	if got.status != status || got.body != body {
		t.Fatalf("got %d %s, want %d %s", got.status, got.body, status, body)
	}
}

// oathkeeper401 is oathkeeper's answer to a Bearer token Kratos refuses.
const oathkeeper401 = `{"error":{"code":401,"status":"Unauthorized","message":"Access credentials are invalid"}}`

var (
	uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	token  = regexp.MustCompile(`^ory_st_[A-Za-z0-9]{32}$`)
)

func TestIPCheckComesFirst(t *testing.T) {
	s := start(t)
	for _, route := range []string{"/email/code", "/email/login", "/totp/validate", "/phone/captcha", "/phone/code", "/phone/login", "/no/such/route"} {
		for _, ip := range []string{"", "not-an-ip", " , 1.2.3.4"} {
			expect(t, post(t, s.AuthURL()+route, ip, `{}`), 400, `{"error":"IP is not defined"}`)
		}
	}
	// the first comma item counts, IPv6 too
	if r := post(t, s.AuthURL()+"/phone/captcha", "2001:db8::1, 10.0.0.1", `{}`); r.status != 200 {
		t.Fatalf("captcha with a list in X-Real-IP: %d %s", r.status, r.body)
	}
	seen := s.SeenIPs()
	if last := seen[len(seen)-1]; last != "2001:db8::1, 10.0.0.1" {
		t.Fatalf("SeenIPs records the header as received, got %q", last)
	}
	if n := len(s.SeenIPs()); n != 7*3+1 {
		t.Fatalf("SeenIPs has %d entries, want %d", n, 22)
	}
}

func TestEmailWireFormat(t *testing.T) {
	s := start(t)
	id := s.AddIdentity("ana@example.com", "")
	auth := s.AuthURL()
	const ip = "192.0.2.1"

	expect(t, post(t, auth+"/email/code", ip, `{}`), 422, `{"error":"Missing input"}`)
	expect(t, post(t, auth+"/email/code", ip, `{"email":"nope"}`), 422, `{"error":"nope"}`)

	r := post(t, auth+"/email/code", ip, `{"email":"Ana@Example.com"}`)
	var code struct{ Result string }
	if r.status != 200 || json.Unmarshal([]byte(r.body), &code) != nil || !uuidV4.MatchString(code.Result) {
		t.Fatalf("email/code: %d %s", r.status, r.body)
	}
	if r.body != `{"result":"`+code.Result+`"}` || !strings.HasPrefix(r.ctype, "application/json") {
		t.Fatalf("email/code shape: %s (%s)", r.body, r.ctype)
	}
	sent := s.Code("ana@example.com")
	if len(sent) != 6 {
		t.Fatalf("Code hook: %q", sent)
	}

	login := func(body string) reply { return post(t, auth+"/email/login", ip, body) }
	expect(t, login(`{"code":"123456"}`), 422, `{"error":"Missing input"}`)
	expect(t, login(`{"emailLoginId":"x-1","code":"123456"}`), 422, `{"error":"x-1"}`)
	expect(t, login(`{"emailLoginId":"`+code.Result+`"}`), 422, `{"error":"Missing input"}`)
	expect(t, login(`{"emailLoginId":"`+code.Result+`","code":"12345"}`), 422, `{"error":"Unknown error"}`)
	wrong := "000000"
	if sent == wrong {
		wrong = "111111"
	}
	expect(t, login(`{"emailLoginId":"`+code.Result+`","code":"`+wrong+`"}`), 401, `{"error":"invalid code"}`)

	r = login(`{"emailLoginId":"` + code.Result + `","code":"` + sent + `"}`)
	var ok struct {
		Result struct {
			AuthToken    string `json:"authToken"`
			TOTPRequired bool   `json:"totpRequired"`
			ID           string `json:"id"`
		} `json:"result"`
	}
	if r.status != 200 || json.Unmarshal([]byte(r.body), &ok) != nil || !token.MatchString(ok.Result.AuthToken) {
		t.Fatalf("email/login: %d %s", r.status, r.body)
	}
	if want := `{"result":{"authToken":"` + ok.Result.AuthToken + `","totpRequired":false,"id":"` + id + `"}}`; r.body != want {
		t.Fatalf("email/login shape:\n got %s\nwant %s", r.body, want)
	}
	// used
	expect(t, login(`{"emailLoginId":"`+code.Result+`","code":"`+sent+`"}`), 401, `{"error":"invalid code"}`)
	// unknown flow
	expect(t, login(`{"emailLoginId":"00000000-0000-4000-8000-000000000000","code":"123456"}`), 400, `{"error":"Unknown error"}`)

	// an unknown address still gets a flow id; its code never works
	r = post(t, auth+"/email/code", ip, `{"email":"nobody@example.com"}`)
	if r.status != 200 || json.Unmarshal([]byte(r.body), &code) != nil || !uuidV4.MatchString(code.Result) {
		t.Fatalf("email/code for an unknown address: %d %s", r.status, r.body)
	}
	expect(t, login(`{"emailLoginId":"`+code.Result+`","code":"`+s.Code("nobody@example.com")+`"}`), 401, `{"error":"invalid code"}`)

	// unverified address: the right code answers 400 "Unknown error"
	s.SetUnverified("ana@example.com")
	post(t, auth+"/email/code", ip, `{"email":"ana@example.com"}`)
	r = post(t, auth+"/email/code", ip, `{"email":"ana@example.com"}`)
	json.Unmarshal([]byte(r.body), &code)
	expect(t, login(`{"emailLoginId":"`+code.Result+`","code":"`+s.Code("ana@example.com")+`"}`), 400, `{"error":"Unknown error"}`)
}

func TestEmailCodeExpires(t *testing.T) {
	s := start(t)
	s.AddIdentity("ana@example.com", "")
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	r := post(t, s.AuthURL()+"/email/code", "192.0.2.1", `{"email":"ana@example.com"}`)
	var code struct{ Result string }
	json.Unmarshal([]byte(r.body), &code)
	now = now.Add(EmailCodeLifetime)
	expect(t, post(t, s.AuthURL()+"/email/login", "192.0.2.1", `{"emailLoginId":"`+code.Result+`","code":"`+s.Code("ana@example.com")+`"}`),
		400, `{"error":"Unknown error"}`)
}

func TestPhoneWireFormat(t *testing.T) {
	s := start(t)
	auth := s.AuthURL()
	const ip = "192.0.2.2"
	var messages []string
	s.SetOnMessage(func(channel, to, text string) { messages = append(messages, channel+" "+to+" "+text) })

	r := post(t, auth+"/phone/captcha", ip, `{}`)
	var c struct {
		Result struct {
			ID            string `json:"id"`
			ChallengeCode string `json:"challengeCode"`
		} `json:"result"`
	}
	json.Unmarshal([]byte(r.body), &c)
	if want := `{"result":{"id":"` + GeetestID + `","challengeCode":"` + c.Result.ChallengeCode + `","newCaptcha":true,"failbackMode":false}}`; r.status != 200 || r.body != want {
		t.Fatalf("phone/captcha:\n got %d %s\nwant %s", r.status, r.body, want)
	}

	code := func(body string) reply { return post(t, auth+"/phone/code", ip, body) }
	expect(t, code(`{"phone":"+16505554350","challengeCode":"x","validationCode":"y"}`), 400, `{"error":"missing inputs"}`)
	expect(t, code(`{"phone":"12","challengeCode":"x","validationCode":"y","secCode":"z"}`), 400, `{"error":"invalid phone"}`)
	expect(t, code(`{"phone":"+16505554350","challengeCode":"not-issued","validationCode":"y","secCode":"z","channel":"sms"}`),
		400, `{"error":{"name":"CaptchaUserFailToPassError","level":"info"}}`)
	expect(t, code(`{"phone":"+16505554350","challengeCode":"`+c.Result.ChallengeCode+`","validationCode":"y","secCode":"z","channel":"sms"}`),
		200, `{"success":true}`)
	// a challenge passes once
	expect(t, code(`{"phone":"+16505554350","challengeCode":"`+c.Result.ChallengeCode+`","validationCode":"y","secCode":"z","channel":"sms"}`),
		400, `{"error":{"name":"CaptchaUserFailToPassError","level":"info"}}`)
	if len(messages) != 1 || messages[0] != "sms +16505554350 Your Blink code is 000000" {
		t.Fatalf("messages: %q", messages)
	}

	challenge := func() string {
		r := post(t, auth+"/phone/captcha", ip, `{}`)
		json.Unmarshal([]byte(r.body), &c)
		return c.Result.ChallengeCode
	}
	expect(t, code(`{"phone":"+16505554350","challengeCode":"`+challenge()+`","validationCode":"y","secCode":"z","channel":"telegram"}`),
		400, `{"error":{"name":"InvalidChannel","level":"info"}}`)
	// GB offers SMS only
	expect(t, code(`{"phone":"+442071838750","challengeCode":"`+challenge()+`","validationCode":"y","secCode":"z","channel":"WhatsApp"}`),
		400, `{"error":{"name":"InvalidChannelForCountry","level":"info"}}`)

	login := func(body string) reply { return post(t, auth+"/phone/login", ip, body) }
	expect(t, login(`{"phone":"+16505554350"}`), 400, `{"error":"missing inputs"}`)
	expect(t, login(`{"phone":"+16505554350","code":"12a456"}`), 400, `{"error":"invalid code"}`)
	expect(t, login(`{"phone":"+1","code":"123456"}`), 400, `{"error":"invalid phone"}`)
	expect(t, login(`{"phone":"+16505554350","code":"123456"}`), 401, `{"error":"Invalid or incorrect code entered."}`)

	r = login(`{"phone":"+16505554350","code":"000000"}`)
	var ok struct {
		AuthToken string `json:"authToken"`
		ID        string `json:"id"`
	}
	json.Unmarshal([]byte(r.body), &ok)
	id := s.Lookup("+16505554350")
	if want := `{"authToken":"` + ok.AuthToken + `","totpRequired":false,"id":"` + id + `"}`; r.status != 200 || r.body != want || !uuidV4.MatchString(id) || !token.MatchString(ok.AuthToken) {
		t.Fatalf("phone/login (registration, no result wrapper):\n got %d %s\nwant %s", r.status, r.body, want)
	}
	// same phone, same identity
	r = login(`{"phone":"+16505554350","code":"000000"}`)
	if !strings.Contains(r.body, `"id":"`+id+`"`) {
		t.Fatalf("second login: %s", r.body)
	}

	s.DenyOnboardingPhone("+16505554351")
	expect(t, login(`{"phone":"+16505554351","code":"000000"}`), 401, `{"error":"This phone number is not allowed to onboard."}`)
	s.DenyOnboardingIP(ip)
	expect(t, login(`{"phone":"+16505554352","code":"000000"}`), 401, `{"error":"This IP address is not allowed to onboard."}`)
}

func TestRandomPhoneCodeIsSingleUse(t *testing.T) {
	s := start(t)
	s.SetPhoneCode("")
	auth := s.AuthURL()
	r := post(t, auth+"/phone/captcha", "192.0.2.3", `{}`)
	var c struct {
		Result struct{ ChallengeCode string }
	}
	json.Unmarshal([]byte(r.body), &c)
	expect(t, post(t, auth+"/phone/code", "192.0.2.3", `{"phone":"+16505554350","challengeCode":"`+c.Result.ChallengeCode+`","validationCode":"y","secCode":"z"}`), 200, `{"success":true}`)
	code := s.Code("+16505554350")
	if r := post(t, auth+"/phone/login", "192.0.2.3", `{"phone":"+16505554350","code":"`+code+`"}`); r.status != 200 {
		t.Fatalf("random code refused: %d %s", r.status, r.body)
	}
	// Approved, the verification is gone: Twilio Verify's 404, core's
	// ExpiredOrNonExistentPhoneNumberError.
	expect(t, post(t, auth+"/phone/login", "192.0.2.3", `{"phone":"+16505554350","code":"`+code+`"}`), 401, `{"error":"Invalid or incorrect phone entered."}`)
}

// A phone verification lives 10 minutes (Twilio Verify's default); a wrong
// code leaves it alive; none sent is the same 401 as an expired one.
func TestPhoneVerificationExpires(t *testing.T) {
	s := start(t)
	s.SetPhoneCode("")
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	auth := s.AuthURL()
	const ip = "192.0.2.13"
	login := func(code string) reply {
		return post(t, auth+"/phone/login", ip, `{"phone":"+16505554360","code":"`+code+`"}`)
	}
	const gone = `{"error":"Invalid or incorrect phone entered."}`
	expect(t, login("123456"), 401, gone)
	expect(t, post(t, auth+"/phone/code", ip, `{"phone":"+16505554360","challengeCode":"`+captcha(t, s)+`","validationCode":"y","secCode":"z"}`), 200, `{"success":true}`)
	code := s.Code("+16505554360")
	expect(t, login(otherThan(code)), 401, `{"error":"Invalid or incorrect code entered."}`)
	now = now.Add(PhoneCodeLifetime)
	expect(t, login(code), 401, gone)
	if s.Lookup("+16505554360") != "" {
		t.Fatal("an expired verification created an account")
	}
}

func otherThan(code string) string {
	if code == "123456" {
		return "654321"
	}
	return "123456"
}

func TestTOTPWireFormatAndMe(t *testing.T) {
	s := start(t)
	id := s.AddIdentity("ana@example.com", "+16505554350")
	secret := s.EnrolTOTP(id)
	auth := s.AuthURL()
	const ip = "192.0.2.4"

	r := post(t, auth+"/phone/login", ip, `{"phone":"+16505554350","code":"000000"}`)
	var l struct{ AuthToken string }
	json.Unmarshal([]byte(r.body), &l)
	if want := `{"authToken":"` + l.AuthToken + `","totpRequired":true}`; r.body != want {
		t.Fatalf("TOTP login has no id:\n got %s\nwant %s", r.body, want)
	}

	gql := func(tok, query string) reply {
		body, _ := json.Marshal(map[string]string{"query": query})
		return post(t, s.GraphQLURL(), "", string(body), "Authorization", "Bearer "+tok)
	}
	const notAuth = `{"data":{"me":null},"errors":[{"message":"Not authorized","path":["me"],"extensions":{"code":"NOT_AUTHORIZED"}}]}`
	// Oathkeeper refuses a token still waiting for its second factor.
	expect(t, gql(l.AuthToken, `query getUserId { me { id } }`), 401, oathkeeper401)

	validate := func(body string) reply { return post(t, auth+"/totp/validate", ip, body) }
	expect(t, validate(`{"authToken":"`+l.AuthToken+`"}`), 422, `{"error":"Missing input"}`)
	expect(t, validate(`{"totpCode":"12345","authToken":"`+l.AuthToken+`"}`), 422, `{"error":"12345"}`)
	expect(t, validate(`{"totpCode":"123456"}`), 422, `{"error":"Missing input"}`)
	expect(t, validate(`{"totpCode":"123456","authToken":"short"}`), 422, `{"error":"Invalid value for AuthToken"}`)
	expect(t, validate(`{"totpCode":"123456","authToken":"ory_st_00000000000000000000000000000000"}`), 500, `{"error":"Request failed with status code 401"}`)
	right := TOTPCode(secret, time.Now())
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	expect(t, validate(`{"totpCode":"`+wrong+`","authToken":"`+l.AuthToken+`"}`), 400, `{"error":"Request failed with status code 400"}`)
	r = validate(`{"totpCode":"` + right + `","authToken":"` + l.AuthToken + `"}`)
	if r.status != 200 || r.body != "" {
		t.Fatalf("totp/validate: %d %q, want 200 and no body", r.status, r.body)
	}

	expect(t, gql(l.AuthToken, `query getUserId { me { id } }`), 200, `{"data":{"me":{"id":"`+id+`"}}}`)
	expect(t, gql(l.AuthToken, `query me { me { id phone email { address verified } } }`), 200,
		`{"data":{"me":{"id":"`+id+`","phone":"+16505554350","email":{"address":"ana@example.com","verified":true}}}}`)
	expect(t, gql("ory_st_nope", `query getUserId { me { id } }`), 401, oathkeeper401)
	// Without a Bearer the request passes oathkeeper anonymously: me is null.
	anonymous := post(t, s.GraphQLURL(), "", `{"query":"query getUserId { me { id } }"}`)
	expect(t, anonymous, 200, notAuth)
	expect(t, gql("", `query CountryCodes { globals { supportedCountries { id supportedAuthChannels } } }`), 200,
		`{"data":{"globals":{"supportedCountries":[{"id":"US","supportedAuthChannels":["TELEGRAM","SMS","WHATSAPP"]},{"id":"SV","supportedAuthChannels":["SMS","WHATSAPP"]},{"id":"GB","supportedAuthChannels":["SMS"]},{"id":"ES","supportedAuthChannels":["SMS","WHATSAPP"]}]}}}`)
}

// Each limiter, with its route's own status and body once exceeded.
func TestLimits(t *testing.T) {
	s := start(t)
	s.AddIdentity("ana@example.com", "")
	auth := s.AuthURL()
	small := Limit{Points: 2, Window: time.Hour, Block: time.Hour}
	s.SetLimits(Limits{CodeRequestPerIP: small, CodeRequestPerIdentifier: small, FailedLoginPerIP: small, LoginPerIdentifier: small, EmailCodeTries: 2})

	t.Run("email code per address", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if r := post(t, auth+"/email/code", "198.51.100.1", `{"email":"ana@example.com"}`); r.status != 200 {
				t.Fatal(r)
			}
		}
		expect(t, post(t, auth+"/email/code", "198.51.100.2", `{"email":"ana@example.com"}`), 400, `{"error":"Unknown error"}`)
	})
	t.Run("code requests per IP, shared by email and phone", func(t *testing.T) {
		const ip = "198.51.100.3"
		post(t, auth+"/email/code", ip, `{"email":"a1@example.com"}`)
		post(t, auth+"/email/code", ip, `{"email":"a2@example.com"}`)
		expect(t, post(t, auth+"/email/code", ip, `{"email":"a3@example.com"}`), 400, `{"error":"Unknown error"}`)
		ch := captcha(t, s)
		expect(t, post(t, auth+"/phone/code", ip, `{"phone":"+16505554350","challengeCode":"`+ch+`","validationCode":"y","secCode":"z"}`),
			400, `{"error":{"name":"UserCodeAttemptIpRateLimiterExceededError","level":"info"}}`)
	})
	t.Run("phone code per phone", func(t *testing.T) {
		for i, ip := range []string{"198.51.100.4", "198.51.100.5", "198.51.100.6"} {
			r := post(t, auth+"/phone/code", ip, `{"phone":"+16505550001","challengeCode":"`+captcha(t, s)+`","validationCode":"y","secCode":"z"}`)
			if i < 2 && r.status != 200 {
				t.Fatal(r)
			}
			if i == 2 {
				expect(t, r, 400, `{"error":{"name":"UserAttemptPhoneIdentifierRateLimiterExceededError","level":"info"}}`)
			}
		}
	})
	t.Run("phone login per phone", func(t *testing.T) {
		for _, ip := range []string{"198.51.100.7", "198.51.100.8"} {
			expect(t, post(t, auth+"/phone/login", ip, `{"phone":"+16505550002","code":"123456"}`), 401, `{"error":"Invalid or incorrect code entered."}`)
		}
		expect(t, post(t, auth+"/phone/login", "198.51.100.9", `{"phone":"+16505550002","code":"000000"}`),
			401, `{"error":"Too many login attempts, please wait for a while and try again."}`)
	})
	t.Run("failed logins per IP, refunded on success", func(t *testing.T) {
		const ip = "198.51.100.10"
		// two successes in a row cost nothing
		for _, phone := range []string{"+16505550003", "+16505550004", "+16505550005"} {
			if r := post(t, auth+"/phone/login", ip, `{"phone":"`+phone+`","code":"000000"}`); r.status != 200 {
				t.Fatalf("success %s refused: %v", phone, r)
			}
		}
		post(t, auth+"/phone/login", ip, `{"phone":"+16505550006","code":"123456"}`)
		post(t, auth+"/phone/login", ip, `{"phone":"+16505550007","code":"123456"}`)
		expect(t, post(t, auth+"/phone/login", ip, `{"phone":"+16505550008","code":"000000"}`),
			401, `{"error":"Too many login attempts on same network, please wait for a while and try again."}`)
		flow := emailFlowID(t, s, "198.51.100.11", "ana2@example.com")
		expect(t, post(t, auth+"/email/login", ip, `{"emailLoginId":"`+flow+`","code":"123456"}`), 429, `{"error":"too many requests"}`)
	})
	t.Run("email code tries per flow", func(t *testing.T) {
		s.AddIdentity("bea@example.com", "")
		flow := emailFlowID(t, s, "198.51.100.12", "bea@example.com")
		right := s.Code("bea@example.com")
		wrong := "000000"
		if right == wrong {
			wrong = "111111"
		}
		for _, ip := range []string{"198.51.100.13", "198.51.100.14"} {
			expect(t, post(t, auth+"/email/login", ip, `{"emailLoginId":"`+flow+`","code":"`+wrong+`"}`), 401, `{"error":"invalid code"}`)
		}
		expect(t, post(t, auth+"/email/login", "198.51.100.15", `{"emailLoginId":"`+flow+`","code":"`+right+`"}`), 429, `{"error":"too many requests"}`)
	})
	t.Run("totp per token", func(t *testing.T) {
		id := s.AddIdentity("cai@example.com", "")
		secret := s.EnrolTOTP(id)
		flow := emailFlowID(t, s, "198.51.100.16", "cai@example.com")
		r := post(t, auth+"/email/login", "198.51.100.16", `{"emailLoginId":"`+flow+`","code":"`+s.Code("cai@example.com")+`"}`)
		var l struct{ Result struct{ AuthToken string } }
		json.Unmarshal([]byte(r.body), &l)
		tok := l.Result.AuthToken
		right := TOTPCode(secret, time.Now())
		wrong := "000000"
		if right == wrong {
			wrong = "111111"
		}
		for _, ip := range []string{"198.51.100.17", "198.51.100.18"} {
			expect(t, post(t, auth+"/totp/validate", ip, `{"totpCode":"`+wrong+`","authToken":"`+tok+`"}`), 400, `{"error":"Request failed with status code 400"}`)
		}
		expect(t, post(t, auth+"/totp/validate", "198.51.100.19", `{"totpCode":"`+right+`","authToken":"`+tok+`"}`), 400, `{"error":"Unknown error"}`)
	})
}

func TestLimitBlockEnds(t *testing.T) {
	s := start(t)
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	s.SetLimits(Limits{CodeRequestPerIP: Limit{Points: 1, Window: time.Minute, Block: time.Hour}, CodeRequestPerIdentifier: Limit{Points: 100, Window: time.Hour, Block: time.Hour}})
	const ip = "203.0.113.1"
	if r := post(t, s.AuthURL()+"/email/code", ip, `{"email":"a@example.com"}`); r.status != 200 {
		t.Fatal(r)
	}
	expect(t, post(t, s.AuthURL()+"/email/code", ip, `{"email":"b@example.com"}`), 400, `{"error":"Unknown error"}`)
	now = now.Add(2 * time.Minute) // a new window, but blocked for an hour
	expect(t, post(t, s.AuthURL()+"/email/code", ip, `{"email":"c@example.com"}`), 400, `{"error":"Unknown error"}`)
	now = now.Add(57 * time.Minute)
	expect(t, post(t, s.AuthURL()+"/email/code", ip, `{"email":"c@example.com"}`), 400, `{"error":"Unknown error"}`)
	now = now.Add(2 * time.Minute)
	if r := post(t, s.AuthURL()+"/email/code", ip, `{"email":"d@example.com"}`); r.status != 200 {
		t.Fatalf("after the block: %v", r)
	}
}

func TestDown(t *testing.T) {
	s := start(t)
	s.Down(true)
	if r := post(t, s.AuthURL()+"/phone/captcha", "192.0.2.9", `{}`); r.status != 503 {
		t.Fatalf("down: %v", r)
	}
	if r := post(t, s.GraphQLURL(), "", `{"query":"{ globals { supportedCountries { id } } }"}`); r.status != 503 {
		t.Fatalf("down graphql: %v", r)
	}
	s.Down(false)
	if r := post(t, s.AuthURL()+"/phone/captcha", "192.0.2.9", `{}`); r.status != 200 {
		t.Fatalf("up again: %v", r)
	}
	calls := s.Calls()
	if len(calls) != 3 || calls[0] != (Call{Path: "/auth/phone/captcha", RealIP: "192.0.2.9", Status: 503}) || calls[2].Status != 200 {
		t.Fatalf("calls: %+v", calls)
	}
}

func TestGeetestScript(t *testing.T) {
	s := start(t)
	resp, err := http.Get(s.GeetestScriptURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/javascript") ||
		!strings.Contains(string(b), "window.initGeetest") || !strings.Contains(string(b), "geetest_seccode") {
		t.Fatalf("gt.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestConcurrentIdentitiesAreOnePerPhone(t *testing.T) {
	s := start(t)
	var wg sync.WaitGroup
	// six: the per-phone login limit is eight an hour
	ids := make(chan string, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := post(t, s.AuthURL()+"/phone/login", "192.0.2.10", `{"phone":"+16505559999","code":"000000"}`)
			var l struct{ ID string }
			json.Unmarshal([]byte(r.body), &l)
			ids <- l.ID
		}()
	}
	wg.Wait()
	close(ids)
	want := s.Lookup("+16505559999")
	for id := range ids {
		if id != want {
			t.Fatalf("login answered %q, the phone's identity is %q", id, want)
		}
	}
}

func captcha(t *testing.T, s *Standin) string {
	t.Helper()
	r := post(t, s.AuthURL()+"/phone/captcha", "192.0.2.99", `{}`)
	var c struct {
		Result struct{ ChallengeCode string }
	}
	json.Unmarshal([]byte(r.body), &c)
	return c.Result.ChallengeCode
}

func emailFlowID(t *testing.T, s *Standin, ip, email string) string {
	t.Helper()
	r := post(t, s.AuthURL()+"/email/code", ip, `{"email":"`+email+`"}`)
	var c struct{ Result string }
	if r.status != 200 || json.Unmarshal([]byte(r.body), &c) != nil {
		t.Fatalf("email/code: %v", r)
	}
	return c.Result
}
