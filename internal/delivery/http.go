package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// httpClient has the 10 s timeout SMS providers get (security-requirements #19)
// and never follows a redirect: a 307 or 308 would post the message, code
// included, to wherever the Location header says.
var httpClient = &http.Client{
	Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// Twilio sends SMS and WhatsApp messages through Twilio's Messages API:
// POST {API}/2010-04-01/Accounts/{sid}/Messages.json with basic auth and the
// form fields To, From and Body; WhatsApp numbers carry a "whatsapp:" prefix.
type Twilio struct {
	APIURL     string // https://api.twilio.com unless tests point it elsewhere
	AccountSID string
	AuthToken  string
	From       string // the SMS sender (number or messaging service)
	WhatsApp   bool   // send on WhatsApp from From
}

// Send posts one message.
func (t Twilio) Send(ctx context.Context, e Envelope) error {
	to, from := e.To, t.From
	if t.WhatsApp {
		to, from = "whatsapp:"+to, "whatsapp:"+strings.TrimPrefix(from, "whatsapp:")
	}
	form := url.Values{"To": {to}, "From": {from}, "Body": {e.Text}}
	endpoint := strings.TrimSuffix(t.APIURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(t.AccountSID) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Permanent(err)
	}
	req.SetBasicAuth(t.AccountSID, t.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return doHTTP("twilio", req)
}

// Webhook sends SMS through any gateway that takes a JSON POST:
// {"channel": "sms", "to": "+503…", "body": "…"}; any 2xx is success. Every
// request is signed (SignatureHeader) so the gateway can refuse forged ones.
type Webhook struct {
	URL    string
	Secret string
	Now    func() time.Time // the signature's time; time.Now unless a test sets it
}

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>".
const SignatureHeader = "X-Blink-Signature"

// Send posts one message.
func (w Webhook) Send(ctx context.Context, e Envelope) error {
	b, _ := json.Marshal(map[string]string{"channel": e.Channel, "to": e.To, "body": e.Text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(b))
	if err != nil {
		return Permanent(err)
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Signature(w.Secret, now(), b))
	return doHTTP("sms webhook", req)
}

// Signature is the SignatureHeader value for body sent at t. The time is
// signed with the body so a gateway can refuse old requests replayed.
func Signature(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// doHTTP sends req: 2xx is success; a redirect and 4xx (but 408 and 429) are
// permanent, the rest retried.
// At most 4 KiB of an error body is read, and none of it is echoed (it may quote the message).
func doHTTP(name string, req *http.Request) error {
	resp, err := httpClient.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL may carry credentials
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	defer resp.Body.Close()
	var detail struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	json.Unmarshal(body, &detail)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return Permanent(fmt.Errorf("%s: HTTP %d, a redirect, refused (configure the final URL)", name, resp.StatusCode))
	}
	err = fmt.Errorf("%s: HTTP %d (provider code %d)", name, resp.StatusCode, detail.Code)
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429 {
		return Permanent(err)
	}
	return err
}
