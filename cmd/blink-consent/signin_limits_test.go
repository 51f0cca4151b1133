//go:build devstack

package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
)

// identifierPage opens a fresh flow and returns the browser on its identifier page.
func identifierPage(t *testing.T, b *browser) hop {
	t.Helper()
	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	return rp.start(b).Last()
}

func isTooMany(h hop) bool {
	return h.Status == http.StatusTooManyRequests && strings.Contains(h.Body, "Too many tries") && h.Header.Get("Retry-After") != ""
}

// Blink's numbers: 4 codes per email per hour.
func TestSendLimitPerEmail(t *testing.T) {
	addUser(t, testStack, "limit.email@example.com")
	b := newBrowser(t)
	for i := 1; i <= 5; i++ {
		b.IP = fmt.Sprintf("203.0.113.%d", i) // a new address each time: only the email limit applies
		h := requestCode(t, b, identifierPage(t, b), url.Values{"method": {"email"}, "email": {"limit.email@example.com"}}).Last()
		if i <= 4 && h.URL.Path != "/login/code" {
			t.Fatalf("code %d refused: %d", i, h.Status)
		}
		if i == 5 && !isTooMany(h) {
			t.Errorf("the fifth code in an hour: %d", h.Status)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(testSMTP.all("limit.email@example.com")); n > 4 {
		t.Errorf("%d messages sent", n)
	}
}

// 8 codes per phone number per 24 hours.
func TestSendLimitPerPhone(t *testing.T) {
	b := newBrowser(t)
	for i := 1; i <= 9; i++ {
		b.IP = fmt.Sprintf("203.0.114.%d", i)
		h := requestCode(t, b, identifierPage(t, b), url.Values{"method": {"phone"}, "country": {"SV"}, "phone": {"7999 0001"}, "channel": {"sms"}}).Last()
		if i <= 8 && h.URL.Path != "/login/code" {
			t.Fatalf("code %d refused: %d\n%s", i, h.Status, excerpt(h.Body))
		}
		if i == 9 && !isTooMany(h) {
			t.Errorf("the ninth code in 24h: %d", h.Status)
		}
	}
	if n := queryInt(t, `SELECT count(*) FROM rate_events WHERE bucket = 'send-phone' AND key = '+50379990001'`); n != 8 {
		t.Errorf("%d send events recorded", n)
	}
}

// 16 codes per client address per hour, whatever the identifiers.
func TestSendLimitPerIP(t *testing.T) {
	b := newBrowser(t)
	b.IP = "203.0.115.1"
	for i := 1; i <= 17; i++ {
		h := requestCode(t, b, identifierPage(t, b), url.Values{"method": {"email"}, "email": {fmt.Sprintf("ip.limit.%d@example.com", i)}}).Last()
		if i <= 16 && h.URL.Path != "/login/code" {
			t.Fatalf("code %d refused: %d", i, h.Status)
		}
		if i == 17 && !isTooMany(h) {
			t.Errorf("the 17th code from one address: %d", h.Status)
		}
	}
	// Another address is not affected.
	b.IP = "203.0.115.2"
	if h := requestCode(t, b, identifierPage(t, b), url.Values{"method": {"email"}, "email": {"ip.limit.other@example.com"}}).Last(); h.URL.Path != "/login/code" {
		t.Errorf("another address was limited too: %d", h.Status)
	}
}

// 20 failed verifications per client address per 6 hours.
func TestFailureLimitPerIP(t *testing.T) {
	b := newBrowser(t)
	b.IP = "203.0.116.1"
	exec(t, `INSERT INTO rate_events (bucket, key) SELECT 'fail-ip', $1 FROM generate_series(1, 20)`, b.IP)
	page := requestCode(t, b, identifierPage(t, b), url.Values{"method": {"email"}, "email": {"fail.ip@example.com"}}).Last()
	if h := submitCode(b, page, "123456").Last(); !isTooMany(h) {
		t.Errorf("a code check after 20 failures from the address: %d", h.Status)
	}
}

// Two wrong codes before a limit, the page says so (issue 17 item 1): the
// code's own 5 tries first (a new code gets new ones), and never before.
func TestWrongCodesWarnTwoTriesBeforeTheLimit(t *testing.T) {
	addUser(t, testStack, "tries.left@example.com")
	_, b, page := codePage(t, "tries.left@example.com")
	for i, want := range []string{"", "", "2 tries left for this code; after that, send a new one.", "1 try left for this code; after that, send a new one."} {
		h := submitCode(b, page, "000000").Last()
		if h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, wrongCodeText) {
			t.Fatalf("wrong code %d: %d", i+1, h.Status)
		}
		if warned := strings.Contains(h.Body, "left for this code") || strings.Contains(h.Body, "before sign-in pauses"); want == "" && warned || want != "" && !strings.Contains(h.Body, want) {
			t.Errorf("after wrong code %d the page warns %v, want %q", i+1, warned, want)
		}
		// The count the page told is the store's.
		if n := queryInt(t, `SELECT c.attempts FROM login_codes c JOIN login_flows f ON f.id = c.flow_id
			WHERE f.identifier = 'tries.left@example.com' AND c.superseded_at IS NULL`); n != i+1 {
			t.Errorf("after wrong code %d the code row counts %d tries", i+1, n)
		}
	}
}

// Codes go only to numbers of the configured countries; login_hint never sends.
func TestSMSCountriesAndLoginHint(t *testing.T) {
	b := newBrowser(t)
	h := requestCode(t, b, identifierPage(t, b), url.Values{"method": {"phone"}, "country": {"SV"}, "phone": {"+44 7400 123456"}, "channel": {"sms"}}).Last()
	if h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, "We cannot send codes to numbers of that country yet.") {
		t.Errorf("a UK number: %d", h.Status)
	}
	if len(testTwilio.all("+447400123456")) != 0 {
		t.Error("an SMS went to a country not allowed")
	}
	for _, bad := range []url.Values{
		{"method": {"phone"}, "country": {"SV"}, "phone": {"2222 3333"}, "channel": {"sms"}},   // a fixed line
		{"method": {"phone"}, "country": {"SV"}, "phone": {"not a phone"}, "channel": {"sms"}}, // nonsense
		{"method": {"phone"}, "country": {"SV"}, "phone": {"7123 0000"}, "channel": {"fax"}},   // no such channel
		{"method": {"email"}, "email": {"Maria <m@example.com>"}},
	} {
		if h := requestCode(t, b, identifierPage(t, b), bad).Last(); h.Status != http.StatusUnprocessableEntity || !strings.Contains(h.Body, `class="field-error" role="alert">`) {
			t.Errorf("%v: %d", bad, h.Status)
		}
	}

	rp := newRelyingParty(t, testStack, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})
	for hint, want := range map[string]string{"hinted@example.com": `value="hinted@example.com"`, "+50371112222": `value="+50371112222"`} {
		page := rp.start(newBrowser(t), oauth2.SetAuthURLParam("login_hint", hint)).Last()
		if !strings.Contains(page.Body, want) {
			t.Errorf("login_hint %s not prefilled", hint)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if len(testSMTP.all("hinted@example.com"))+len(testTwilio.all("+50371112222")) != 0 {
		t.Error("a login_hint alone sent a message")
	}
}

func TestCancelDeniesAccess(t *testing.T) {
	b := newBrowser(t)
	page := identifierPage(t, b)
	j := b.Post(testStack.ServiceURL+"/login/identify", url.Values{"flow": {flowID(t, page)}, "action": {"cancel"}})
	if j.Callback == nil || j.Callback.Query().Get("error") != "access_denied" {
		t.Errorf("cancel: %v", paths(j))
	}
}

// The browser cookie: __Host- in production, opaque, HttpOnly, SameSite=Lax,
// and replaced after the code is verified.
func TestBrowserCookieIsOpaqueAndRotated(t *testing.T) {
	addUser(t, testStack, "cookie@example.com")
	b := newBrowser(t)
	page := identifierPage(t, b)
	set := page.Header.Get("Set-Cookie")
	if !strings.HasPrefix(set, "blink_browser=") || !strings.Contains(set, "HttpOnly") || !strings.Contains(set, "SameSite=Lax") || !strings.Contains(set, "Path=/") {
		t.Errorf("cookie %q", set)
	}
	u, _ := url.Parse(testStack.ServiceURL)
	ours := func() string {
		for _, c := range b.http.Jar.Cookies(u) { // the jar also holds Hydra's cookies (same host)
			if c.Name == "blink_browser" {
				return c.Value
			}
		}
		return ""
	}
	before := ours()
	codePage := requestCode(t, b, page, url.Values{"method": {"email"}, "email": {"cookie@example.com"}}).Last()
	j := submitCode(b, codePage, waitCode(t, testSMTP.inbox, "cookie@example.com", 1))
	if j.Callback == nil {
		t.Fatalf("sign-in failed: %v", paths(j))
	}
	if after := ours(); after == before || len(after) < 43 {
		t.Errorf("the cookie was not replaced after the code: %q → %q", before, after)
	}
}

// The flow lives in PostgreSQL: a code asked on one replica is checked on another.
func TestFlowSurvivesAnotherReplica(t *testing.T) {
	addUser(t, testStack, "replica@example.com")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	replica, err := testStack.Replica(ctx, serviceLog, serviceLog)
	if err != nil {
		t.Fatal(err)
	}
	rp, b, page := codePage(t, "replica@example.com")
	code := waitCode(t, testSMTP.inbox, "replica@example.com", 1)
	j := b.Post(replica+"/login/code", codeForm(page, code))
	if _, claims := rp.tokens(t, j); claims["email"] != "replica@example.com" {
		t.Errorf("claims %v", claims)
	}
}

// Two workers (two replicas) never send the same message.
func TestTwoOutboxWorkersSendEachMessageOnce(t *testing.T) {
	db := outboxDatabase(t, "it_outbox_two_workers")
	keys := secret.NewKeys([]byte(strings.Repeat("k", 32)))
	const n = 40
	for i := range n {
		m, err := delivery.Seal(keys, delivery.Envelope{Channel: "sms", To: fmt.Sprintf("+1555000%04d", i), Text: "hello"}, time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.QueueMessage(context.Background(), *m); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	sent := map[string]int{}
	var total atomic.Int64
	counter := senderFunc(func(_ context.Context, e delivery.Envelope) error {
		mu.Lock()
		sent[e.To]++
		mu.Unlock()
		total.Add(1)
		time.Sleep(5 * time.Millisecond)
		return nil
	})
	var wg sync.WaitGroup
	for range 2 {
		w := &delivery.Worker{Outbox: db, Keys: keys, Senders: map[string]delivery.Sender{"sms": counter}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				worked, err := w.Once(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if !worked {
					return
				}
			}
		}()
	}
	wg.Wait()
	if total.Load() != n || len(sent) != n {
		t.Fatalf("%d sends for %d messages (%d distinct)", total.Load(), n, len(sent))
	}
	for to, c := range sent {
		if c != 1 {
			t.Errorf("%s got %d messages", to, c)
		}
	}
}

type senderFunc func(context.Context, delivery.Envelope) error

func (f senderFunc) Send(ctx context.Context, e delivery.Envelope) error { return f(ctx, e) }

// An SMTP outage loses nothing: the message goes out once the server is back.
func TestSMTPOutageDeliversLater(t *testing.T) {
	addUser(t, testStack, "outage@example.com")
	testSMTP.stop()
	restarted := false
	defer func() {
		if !restarted {
			testSMTP.restart()
		}
	}()
	_, b, page := codePage(t, "outage@example.com")
	deadline := time.Now().Add(10 * time.Second)
	for queryInt(t, `SELECT count(*) FROM outbox WHERE destination = 'outage@example.com' AND attempts >= 1 AND last_error IS NOT NULL AND status = 'queued'`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failed attempt recorded during the outage")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := testSMTP.restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	code := waitCode(t, testSMTP.inbox, "outage@example.com", 1)
	if j := submitCode(b, page, code); j.Callback == nil {
		t.Errorf("sign-in with the late code failed: %v", paths(j))
	}
}

// A permanent failure (SMTP 550) is recorded and not retried.
func TestPermanentFailureIsNotRetried(t *testing.T) {
	addUser(t, testStack, "nobody@bounce.example.com")
	codePage(t, "nobody@bounce.example.com")
	deadline := time.Now().Add(10 * time.Second)
	for queryInt(t, `SELECT count(*) FROM outbox WHERE destination = 'nobody@bounce.example.com' AND status = 'failed'`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the bounced message was not marked failed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // longer than the first backoff
	if n := queryInt(t, `SELECT attempts FROM outbox WHERE destination = 'nobody@bounce.example.com'`); n != 1 {
		t.Errorf("a permanent failure was tried %d times", n)
	}
}

// A message whose code expired before it could be sent is dropped.
func TestExpiredMessageIsDropped(t *testing.T) {
	db := outboxDatabase(t, "it_outbox_expired")
	keys := secret.NewKeys([]byte(strings.Repeat("k", 32)))
	m, _ := delivery.Seal(keys, delivery.Envelope{Channel: "sms", To: "+15550009999", Text: "old"}, time.Now().Add(-time.Second))
	if err := db.QueueMessage(context.Background(), *m); err != nil {
		t.Fatal(err)
	}
	called := false
	w := &delivery.Worker{Outbox: db, Keys: keys, Senders: map[string]delivery.Sender{"sms": senderFunc(func(context.Context, delivery.Envelope) error { called = true; return nil })}}
	if worked, err := w.Once(context.Background()); !worked || err != nil {
		t.Fatalf("Once: %v %v", worked, err)
	}
	ms, err := db.RecentMessages(context.Background(), 1)
	if err != nil || len(ms) != 1 {
		t.Fatal(err)
	}
	if called || ms[0].Status != "abandoned" {
		t.Errorf("an expired message was sent (%v) or not abandoned (%s)", called, ms[0].Status)
	}
}

// outboxDatabase is a migrated database of its own, so the service's own
// outbox workers (on the main database) cannot take the test's messages.
func outboxDatabase(t *testing.T, name string) *store.Store {
	t.Helper()
	url, err := testPG.CreateDatabase(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}
