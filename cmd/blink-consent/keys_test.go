//go:build devstack

package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blinkbitcoin/blink-consent/internal/delivery"
	"github.com/blinkbitcoin/blink-consent/internal/devstack"
	"github.com/blinkbitcoin/blink-consent/internal/identity/blinkcore"
	"github.com/blinkbitcoin/blink-consent/internal/identity/postgres"
	"github.com/blinkbitcoin/blink-consent/internal/secret"
	"github.com/blinkbitcoin/blink-consent/internal/store"
	"github.com/blinkbitcoin/blink-consent/internal/totp"
)

// restartService stops st's service and starts it again on the same ports,
// database and Hydra with env changed ("" removes a variable), as a deploy would.
func restartService(t *testing.T, st *stack, changes map[string]string) {
	t.Helper()
	st.cancel()
	<-st.done
	env := map[string]string{}
	for k, v := range st.env {
		env[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	st.env = env
	ctx, cancel := context.WithCancel(context.Background())
	st.cancel, st.done, st.err = cancel, make(chan struct{}), nil
	go func() {
		st.err = run(ctx, []string{"blink-consent", "serve"}, func(k string) string { return env[k] }, serviceLog, serviceLog)
		close(st.done)
	}()
	if err := waitHealthy(ctx, st.HealthURL+"/healthz", st); err != nil {
		t.Fatal(err)
	}
}

// twoStepSignIn signs in on st with the emailed code, then the authenticator
// code of s, and returns the journey after the TOTP step.
func twoStepSignIn(t *testing.T, st *stack, rp *relyingParty, email string, s []byte) journey {
	t.Helper()
	b := newBrowser(t)
	start := rp.start(b).Last()
	before := codeCount(testSMTP.inbox, email)
	codePage := b.Post(st.ServiceURL+"/login/identify", url.Values{"flow": {flowID(t, start)}, "action": {"continue"},
		"method": {"email"}, "email": {email}}).Last()
	if codePage.URL.Path != "/login/code" {
		t.Fatalf("asking for a code ended on %s %d", codePage.URL.Path, codePage.Status)
	}
	totpPage := b.Post(st.ServiceURL+"/login/code", codeForm(codePage, waitCode(t, testSMTP.inbox, email, before+1))).Last()
	if totpPage.URL.Path != "/login/totp" || totpPage.Status != http.StatusOK {
		t.Fatalf("after the email code: %s %d", totpPage.URL.Path, totpPage.Status)
	}
	return b.Post(st.ServiceURL+"/login/totp", url.Values{"flow": {flowID(t, totpPage)}, "code": {totp.Code(s, time.Now())}, "action": {"continue"}})
}

// Rotating SECRET_KEY as docs/operations.md says ends with the old key gone and
// every two-step user still signing in; skipping `keys rotate` would lock them out.
func TestKeyRotationKeepsTwoStepUsers(t *testing.T) {
	ctx := context.Background()
	keyA, keyB := randomHex(32), randomHex(32)
	st, err := newTestStack(ctx, "rotate", 0, map[string]string{"SECRET_KEY": keyA})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })
	const email = "rotate@example.com"
	subject := addUser(t, st, email)
	s, _ := totp.NewSecret()
	if _, errOut, err := runCLI(t, map[string]string{"DATABASE_URL": st.DatabaseURL, "SECRET_KEY": keyA},
		"users", "totp", "import", "--user", subject, "--secret", totp.Base32(s)); err != nil {
		t.Fatalf("totp import: %v %s", err, errOut)
	}
	// The import queues a notice to the user: let the worker send it under A
	// before the test's own message is queued, or a slow machine restarts the
	// service before it went and the counts below see two messages under A.
	waitOutboxDrained(t, st)
	// A message waiting in the outbox under key A (due in an hour: no worker takes it).
	keysA := secret.NewKeys(mustKey(t, keyA))
	m, err := delivery.Seal(keysA, delivery.Envelope{Channel: "sms", To: "+50370001234", Text: "queued under A"}, time.Now().Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, st.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var messageID int64
	if err := conn.QueryRow(ctx, `INSERT INTO outbox (channel, destination, sealed, not_after, next_attempt_at)
		VALUES ($1, $2, $3, $4, now() + interval '1 hour') RETURNING id`, m.Channel, m.Destination, m.Sealed, m.NotAfter).Scan(&messageID); err != nil {
		t.Fatal(err)
	}
	rp := newRelyingParty(t, st, devstack.ClientSpec{Scopes: []string{"openid"}, SkipConsent: true})

	// Dropping A without `keys rotate`: the two-step user cannot sign in.
	restartService(t, st, map[string]string{"SECRET_KEY": keyB, "SECRET_KEY_PREVIOUS": ""})
	if j := twoStepSignIn(t, st, rp, email, s); j.Callback != nil || j.Last().URL.Path != "/login/totp" {
		t.Fatalf("with the TOTP secret sealed under a key the service no longer has: %v", paths(j))
	}

	// The procedure: B current, A previous, deploy, keys rotate, then drop A.
	restartService(t, st, map[string]string{"SECRET_KEY": keyB, "SECRET_KEY_PREVIOUS": keyA})
	env := map[string]string{"DATABASE_URL": st.DatabaseURL, "SECRET_KEY": keyB, "SECRET_KEY_PREVIOUS": keyA}
	out, errOut, err := runCLI(t, env, "keys", "rotate")
	if err != nil {
		t.Fatalf("keys rotate: %v %s", err, errOut)
	}
	for _, want := range []string{"TOTP secrets: 1 re-sealed, 0 already under the current key, 0 unreadable",
		"queued messages: 1 re-sealed, 0 already under the current key, 0 unreadable"} {
		if !strings.Contains(out, want) {
			t.Errorf("keys rotate said %q, want %q", out, want)
		}
	}
	out, _, err = runCLI(t, env, "keys", "rotate")
	if err != nil || !strings.Contains(out, "TOTP secrets: 0 re-sealed, 1 already under the current key, 0 unreadable") ||
		!strings.Contains(out, "queued messages: 0 re-sealed, 1 already under the current key") {
		t.Errorf("keys rotate again: %v %q", err, out)
	}
	// What is stored now opens under B alone.
	keysB := secret.NewKeys(mustKey(t, keyB))
	var sealedTOTP []byte
	if err := conn.QueryRow(ctx, `SELECT sealed FROM totp_credentials WHERE user_id::text = $1`, subject).Scan(&sealedTOTP); err != nil {
		t.Fatal(err)
	}
	if got, err := keysB.Open(sealedTOTP, []byte(subject)); err != nil || string(got) != string(s) {
		t.Errorf("the TOTP secret under B alone: %v", err)
	}
	var queued store.OutboxMessage
	if err := conn.QueryRow(ctx, `SELECT channel, destination, sealed FROM outbox WHERE id = $1`, messageID).
		Scan(&queued.Channel, &queued.Destination, &queued.Sealed); err != nil {
		t.Fatal(err)
	}
	if e, err := delivery.Open(keysB, queued); err != nil || e.Text != "queued under A" {
		t.Errorf("the queued message under B alone: %v %q", err, e.Text)
	}

	restartService(t, st, map[string]string{"SECRET_KEY_PREVIOUS": ""})
	_, claims := rp.tokens(t, twoStepSignIn(t, st, rp, email, s))
	if claims["sub"] != subject || claims["acr"] != "2" || fmt.Sprint(claims["amr"]) != "[otp email totp mfa]" {
		t.Errorf("after the rotation: claims %v", claims)
	}
}

// A value no given key opens is counted, left alone, and makes the command fail.
func TestKeysRotateReportsUnreadableValues(t *testing.T) {
	subject := addUser(t, testStack, "unreadable.totp@example.com")
	other := randomHex(32)
	s, _ := totp.NewSecret()
	sealed, err := secret.NewKeys(mustKey(t, other)).Seal(s, []byte(subject))
	if err != nil {
		t.Fatal(err)
	}
	exec(t, `INSERT INTO totp_credentials (user_id, sealed) VALUES ($1::uuid, $2)`, subject, sealed)
	t.Cleanup(func() { exec(t, `DELETE FROM totp_credentials WHERE user_id::text = $1`, subject) })
	out, _, err := runCLI(t, totpEnv(), "keys", "rotate")
	if err == nil || !strings.Contains(err.Error(), "SECRET_KEY_PREVIOUS") || !strings.Contains(out, "1 unreadable") {
		t.Errorf("keys rotate with a value under an unknown key: %v %q", err, out)
	}
	if queryInt(t, `SELECT count(*) FROM totp_credentials WHERE user_id::text = $1 AND sealed = $2`, subject, sealed) != 1 {
		t.Error("the unreadable value was changed")
	}
}

func mustKey(t *testing.T, hexKey string) []byte {
	t.Helper()
	key, err := hex.DecodeString(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestKeysCommandHelpAndMistakes(t *testing.T) {
	for _, args := range [][]string{{"keys", "--help"}, {"keys", "rotate", "--help"}} {
		if out, _, err := runCLI(t, nil, args...); err != nil || !strings.Contains(out, "Usage: blink-consent keys rotate") {
			t.Errorf("%v: err=%v output=%q", args, err, out)
		}
	}
	for _, args := range [][]string{{"keys"}, {"keys", "frobnicate"}, {"keys", "rotate", "extra"}, {"keys", "rotate"}} {
		if _, _, err := runCLI(t, nil, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// keys rotate walks each table by its primary key, a page of 100 rows at a
// time: with several pages of every kind of sealed value, every row is counted
// exactly once and afterwards opens under the new key alone. (Paging the
// outbox by the text of its ids skipped and repeated rows past id 99.)
func TestKeysRotateReSealsEveryPageOfEveryTable(t *testing.T) {
	ctx := context.Background()
	dbURL, err := testPG.CreateDatabase(ctx, "it_rotate_pages")
	if err != nil {
		t.Fatal(err)
	}
	keyA, keyB := randomHex(32), randomHex(32)
	keysA, keysB := secret.NewKeys(mustKey(t, keyA)), secret.NewKeys(mustKey(t, keyB))
	if _, errOut, err := runCLI(t, map[string]string{"DATABASE_URL": dbURL, "SECRET_KEY": keyA}, "migrate"); err != nil {
		t.Fatalf("migrate: %v %s", err, errOut)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	q := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	newID := func() string {
		t.Helper()
		var id string
		if err := conn.QueryRow(ctx, `SELECT gen_random_uuid()::text`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	seal := func(keys secret.Keys, plain string, ad []byte) []byte {
		t.Helper()
		b, err := keys.Seal([]byte(plain), ad)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// 230 of each kind under the old key A (three pages), 20 already under B.
	const old, current = 230, 20
	for i := range old + current {
		keys := keysA
		if i >= old {
			keys = keysB
		}
		plain := fmt.Sprintf("value %d", i)
		var user string
		if err := conn.QueryRow(ctx, `INSERT INTO users (email) VALUES ($1) RETURNING id::text`, fmt.Sprintf("rotate%d@example.com", i)).Scan(&user); err != nil {
			t.Fatal(err)
		}
		q(`INSERT INTO totp_credentials (user_id, sealed) VALUES ($1::uuid, $2)`, user, seal(keys, plain, []byte(user)))
		dest := fmt.Sprintf("+5037%07d", i)
		q(`INSERT INTO outbox (channel, destination, sealed, not_after, next_attempt_at) VALUES ('sms', $1, $2, now() + interval '2 hours', now() + interval '1 hour')`,
			dest, seal(keys, plain, delivery.AD("sms", dest)))
		enrolment := newID()
		q(`INSERT INTO totp_enrollments (id, user_id, sealed, expires_at) VALUES ($1::uuid, $2::uuid, $3, now() + interval '10 minutes')`,
			enrolment, user, seal(keys, plain, postgres.PendingAD(enrolment, user)))
		session := fmt.Sprintf("session-%d", i)
		q(`INSERT INTO core_tokens (session_id, user_id, sealed, expires_at) VALUES ($1, $2::uuid, $3, now() + interval '1 hour')`,
			session, user, seal(keys, plain, blinkcore.TokenAD(user, session)))
		flow := newID()
		q(`INSERT INTO login_flows (id, browser_hash, challenge, challenge_hash, request_url, client_id, client_name, lang, expires_at, source_state)
			VALUES ($1::uuid, '\x00', $1, '\x00', '', 'app', 'App', 'en', now() + interval '30 minutes', $2)`,
			flow, seal(keys, plain, blinkcore.StateAD(flow)))
	}
	// A sent message is not re-sealed: it is never opened again.
	q(`INSERT INTO outbox (channel, destination, sealed, not_after, status) VALUES ('sms', '+50370000000', '\x00', now(), 'sent')`)

	env := map[string]string{"DATABASE_URL": dbURL, "SECRET_KEY": keyB, "SECRET_KEY_PREVIOUS": keyA}
	out, errOut, err := runCLI(t, env, "keys", "rotate")
	if err != nil {
		t.Fatalf("keys rotate: %v %s %s", err, out, errOut)
	}
	kinds := []string{"TOTP secrets", "queued messages", "pending authenticator enrolments", "Blink core sign-ins in progress", "kept Blink core tokens"}
	for _, kind := range kinds {
		if want := fmt.Sprintf("%s: %d re-sealed, %d already under the current key, 0 unreadable\n", kind, old, current); !strings.Contains(out, want) {
			t.Errorf("keys rotate said\n%s\nwant the line %q", out, want)
		}
	}
	out, _, err = runCLI(t, env, "keys", "rotate")
	for _, kind := range kinds {
		if want := fmt.Sprintf("%s: 0 re-sealed, %d already under the current key, 0 unreadable\n", kind, old+current); err != nil || !strings.Contains(out, want) {
			t.Errorf("keys rotate again: %v\n%s\nwant the line %q", err, out, want)
		}
	}

	// Every stored value opens under B alone, bound to its row, and holds what was sealed.
	check := func(what, sql string, ad func(a, b string) []byte) {
		t.Helper()
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			A, B  string
			Value []byte
		}
		all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range all {
			plain, err := keysB.Open(r.Value, ad(r.A, r.B))
			if err != nil {
				t.Errorf("%s %s/%s does not open under the new key alone: %v", what, r.A, r.B, err)
				continue
			}
			seen[string(plain)] = true
		}
		if len(all) != old+current || len(seen) != old+current {
			t.Errorf("%s: %d rows, %d distinct values opened, want %d", what, len(all), len(seen), old+current)
		}
	}
	check("TOTP secret", `SELECT user_id::text, '', sealed FROM totp_credentials`, func(u, _ string) []byte { return []byte(u) })
	check("queued message", `SELECT channel, destination, sealed FROM outbox WHERE status = 'queued'`, delivery.AD)
	check("enrolment", `SELECT id::text, user_id::text, sealed FROM totp_enrollments`, postgres.PendingAD)
	check("core token", `SELECT user_id::text, session_id, sealed FROM core_tokens`, blinkcore.TokenAD)
	check("flow state", `SELECT id::text, '', source_state FROM login_flows`, func(id, _ string) []byte { return blinkcore.StateAD(id) })
}

// waitOutboxDrained waits until no message in st's outbox is waiting to be sent.
func waitOutboxDrained(t *testing.T, st *stack) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, st.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var queued int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE status = 'queued'`).Scan(&queued); err != nil {
			t.Fatal(err)
		}
		if queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still queued after 30 s", queued)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
