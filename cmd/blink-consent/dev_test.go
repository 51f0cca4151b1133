//go:build devstack

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/devstack/corestandin"
	"github.com/blinkbitcoin/blink-consent/internal/tracing/otlptest"
)

// `dev --identity blink` starts a stand-in of Blink core with the demo
// accounts, runs the service against it, answers a sign-in through Hydra,
// lists what core sends on /dev/messages, and stops everything on Ctrl-C.
func TestDevWithBlinkIdentity(t *testing.T) {
	ports := map[string]int{}
	for _, name := range []string{"port", "health-port", "hydra-public-port", "hydra-admin-port", "demo-port", "core-port"} {
		p, err := devstack.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[name] = p
	}
	args := []string{"--identity", "blink"}
	for name, p := range ports {
		args = append(args, "--"+name, strconv.Itoa(p))
	}
	// dev passes the tracing settings on: the service exports to this collector.
	rcv := otlptest.Start()
	defer rcv.Close()
	getenv := func(k string) string {
		switch k {
		case "HYDRA_BIN":
			return testHydraBin
		case "OTEL_EXPORTER_OTLP_ENDPOINT":
			return rcv.URL
		case "TRACING_SERVICE_NAME":
			return "consent-dev"
		case "RATE_SEND_PHONE":
			return "3/2h" // dev honours a limit set in the environment
		}
		return os.Getenv(k)
	}
	out, errOut := &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmdDev(ctx, args, getenv, out, errOut) }()
	for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(out.String(), "Ctrl-C stops everything"); time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("dev stopped before it was ready: %v\n%s", err, lastLines(errOut.String()+out.String(), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev was not ready within 2 minutes:\n%s", lastLines(errOut.String()+out.String(), 40))
		}
	}
	serviceURL := fmt.Sprintf("http://localhost:%d", ports["port"])
	coreURL := fmt.Sprintf("http://127.0.0.1:%d", ports["core-port"])
	banner := out.String()
	for _, want := range []string{"IDENTITY_SOURCE=blink", demoEmail, demoPhone, demoTOTPEmail, coreURL, serviceURL + "/dev/messages", serviceURL + "/account",
		"codes per email off, per phone 3/2h, per IP off"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner does not say %q:\n%s", want, banner)
		}
	}

	// Ready, core included: the service really talks to the stand-in.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", ports["health-port"]))
	if err != nil {
		t.Fatal(err)
	}
	var ready map[string]string
	json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || ready["blink_core"] != "ok" {
		t.Errorf("/readyz: %d %v", resp.StatusCode, ready)
	}

	// A sign-in through the demo app and Hydra reaches our sign-in page.
	b := newBrowser(t)
	home := b.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports["demo-port"])).Last()
	start := regexp.MustCompile(`href="(/start\?client=[^"]+)"`).FindStringSubmatch(home.Body)
	if start == nil {
		t.Fatalf("the demo app lists no client:\n%s", excerpt(home.Body))
	}
	login := b.Get(fmt.Sprintf("http://127.0.0.1:%d%s", ports["demo-port"], strings.ReplaceAll(start[1], "&amp;", "&"))).Last()
	if login.URL.Path != "/login" || login.Status != http.StatusOK || !flowPattern.MatchString(login.Body) {
		t.Errorf("a sign-in ended on %s %d", login.URL.Path, login.Status)
	}
	// Passkeys are on (dev's PUBLIC_URL is http://localhost, a domain):
	// the identifier page offers them.
	if !strings.Contains(login.Body, `id="passkey-form"`) || login.URL.Host != fmt.Sprintf("localhost:%d", ports["port"]) {
		t.Errorf("dev's sign-in page (%s) offers no passkey", login.URL.Host)
	}
	// Telegram Passport is offered for a Telegram country (the stand-in's US),
	// and its page loads the stand-in's Telegram script.
	phonePage := b.Get(serviceURL + "/login/identify?flow=" + flowID(t, login) + "&method=phone").Last()
	if !strings.Contains(phonePage.Body, `value="telegram"`) {
		t.Errorf("dev's phone form offers no Telegram:\n%s", excerpt(phonePage.Body))
	}
	tg := b.Post(serviceURL+"/login/identify", url.Values{"flow": {flowID(t, login)}, "action": {"continue"}, "method": {"phone"},
		"country": {"US"}, "phone": {"2015550161"}, "channel": {"telegram"}}).Last()
	if tg.URL.Path != "/login/telegram" || !strings.Contains(tg.Body, coreURL+"/static/telegram-passport.js") {
		t.Errorf("dev's Telegram sign-in ended on %s %d:\n%s", tg.URL.Path, tg.Status, excerpt(tg.Body))
	}

	// The account page's client is registered: /account signs in through Hydra.
	if account := b.Get(serviceURL + "/account"); account.Visited("/login") != http.StatusOK {
		t.Errorf("/account did not lead to the sign-in page: %v", paths(account))
	}

	// What core sends — an email code to the demo account, an SMS code to a
	// new number — shows on /dev/messages.
	const newPhone = "+50370000001"
	coreCall(t, coreURL+"/auth/email/code", `{"email":"`+demoEmail+`"}`)
	var captcha struct {
		Result struct {
			ChallengeCode string `json:"challengeCode"`
		} `json:"result"`
	}
	json.Unmarshal(coreCall(t, coreURL+"/auth/phone/captcha", `{}`), &captcha)
	validate, seccode := corestandin.GeetestAnswer(captcha.Result.ChallengeCode)
	coreCall(t, coreURL+"/auth/phone/code", `{"phone":"`+newPhone+`","challengeCode":"`+captcha.Result.ChallengeCode+`","validationCode":"`+validate+`","secCode":"`+seccode+`","channel":"sms"}`)
	emailCode := regexp.MustCompile(`Your Blink sign-in code is (\d{6})`)
	smsCode := regexp.MustCompile(`Your Blink code is (\d{6})`)
	var page hop
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		page = newBrowser(t).Get(serviceURL + "/dev/messages").Last()
		if emailCode.MatchString(page.Body) && smsCode.MatchString(page.Body) {
			break
		}
	}
	if page.Status != http.StatusOK || !emailCode.MatchString(page.Body) || !strings.Contains(page.Body, demoEmail) ||
		!smsCode.MatchString(page.Body) || !strings.Contains(page.Body, newPhone) {
		t.Errorf("/dev/messages does not list core's two messages: %d\n%s", page.Status, excerpt(page.Body))
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("dev did not stop cleanly: %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("dev did not stop within 45 s of Ctrl-C")
	}
	if err := portFree(ports["core-port"]); err != nil {
		t.Errorf("the core stand-in still listens after dev stopped: %v", err)
	}
	if spans := rcv.Named("GET /login"); len(spans) == 0 || spans[0].Service != "consent-dev" {
		t.Errorf("dev exported no GET /login span of consent-dev to OTEL_EXPORTER_OTLP_ENDPOINT: %+v", spans)
	}
}

// dev's limits: those set in the environment, else generous ones to play
// with (ours off with Blink core's stand-in, as in production).
func TestDevLimits(t *testing.T) {
	env := func(k string) string {
		if k == "RATE_FAIL_IP" {
			return "7/1m"
		}
		return ""
	}
	got := map[string]string{}
	for _, l := range devLimits(env, false) {
		got[l.name] = l.value
	}
	want := map[string]string{"RATE_SEND_EMAIL": "30/1h", "RATE_SEND_PHONE": "30/1h", "RATE_SEND_IP": "100/1h", "RATE_FAIL_IDENTIFIER": "30/1h", "RATE_FAIL_IP": "7/1m"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("dev's limits %v, want %v", got, want)
	}
	for _, l := range devLimits(env, true) {
		if l.name != "RATE_FAIL_IP" && l.value != "off" {
			t.Errorf("with Blink core's stand-in %s=%s, want off unless set", l.name, l.value)
		}
	}
}

// coreCall posts to the stand-in as our service would (with X-Real-IP).
func coreCall(t *testing.T, url, body string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Real-IP", "198.51.100.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

func TestDevRefusesAnUnknownIdentity(t *testing.T) {
	_, _, err := runCLI(t, nil, "dev", "--identity", "kratos")
	if err == nil || !strings.Contains(err.Error(), "--identity") {
		t.Errorf("dev --identity kratos: %v", err)
	}
	out, _, err := runCLI(t, nil, "dev", "--help")
	if err != nil || !strings.Contains(out, "-identity") || !strings.Contains(out, "-core-port") {
		t.Errorf("dev --help does not list --identity and --core-port: %v\n%s", err, out)
	}
}
