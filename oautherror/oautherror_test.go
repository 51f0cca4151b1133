package oautherror

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
)

func errorPage(t *testing.T, lang i18n.Lang, q url.Values) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/error?"+q.Encode(), nil)
	req = req.WithContext(i18n.WithLang(req.Context(), lang))
	rec := httptest.NewRecorder()
	Handle(Deps{}).ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d", rec.Code)
	}
	return rec.Body.String()
}

// before fails unless first appears in body, and before second.
func before(t *testing.T, body, first, second string) {
	t.Helper()
	i, j := strings.Index(body, first), strings.Index(body, second)
	if i < 0 || j < 0 || i > j {
		t.Errorf("want %q (at %d) before %q (at %d)", first, i, second, j)
	}
}

func TestOurExplanationLeads(t *testing.T) {
	body := errorPage(t, i18n.English, url.Values{
		"error":             {"access_denied"},
		"error_description": {"Your Blink account is locked. Call +1 555 0100 to unlock it."},
	})
	before(t, body, i18n.English.T("oauth.access_denied"), i18n.English.T("error.technical"))
	before(t, body, i18n.English.T("error.technical.note"), "Your Blink account is locked.")
	if !strings.Contains(body, `<details class="technical">`) {
		t.Error("the URL's text is not inside the folded technical details")
	}
}

func TestUnknownCodeGetsTheGeneralExplanation(t *testing.T) {
	body := errorPage(t, i18n.English, url.Values{"error": {"made_up_error"}})
	before(t, body, i18n.English.T("oauth.unknown"), "made_up_error")
	if strings.Contains(body, "oauth.made_up_error") {
		t.Error("an unknown code was looked up as a catalog key")
	}
}

func TestURLTextIsCapped(t *testing.T) {
	long := strings.Repeat("x", 5000)
	body := errorPage(t, i18n.English, url.Values{"error": {long}, "error_description": {long}, "error_hint": {long}})
	if strings.Contains(body, strings.Repeat("x", maxDetail+1)) {
		t.Error("a 5000-character value was not capped")
	}
	if n := strings.Count(body, strings.Repeat("x", maxDetail)+"…"); n != 3 {
		t.Errorf("%d values capped at %d characters with a mark, want 3", n, maxDetail)
	}
	if len(body) > 12000 {
		t.Errorf("the page is %d bytes", len(body))
	}
}

func TestURLTextIsEscaped(t *testing.T) {
	body := errorPage(t, i18n.English, url.Values{
		"error":             {`<img src=x onerror=alert(1)>`},
		"error_description": {`<script>alert("x")</script>`},
		"error_hint":        {`<a href="https://evil.example">unlock</a>`},
	})
	for _, markup := range []string{"<img src=x", "<script>alert", `<a href="https://evil.example"`} {
		if strings.Contains(body, markup) {
			t.Errorf("rendered as markup: %s", markup)
		}
	}
	if !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("the description is not shown escaped")
	}
}

func TestSpanish(t *testing.T) {
	body := errorPage(t, i18n.Spanish, url.Values{"error": {"access_denied"}, "error_description": {"The resource owner denied the request"}})
	before(t, body, "El inicio de sesión se canceló o se negó el acceso.", "Detalles técnicos")
	before(t, body, "Blink no lo escribió", "The resource owner denied the request")
	if strings.Contains(body, i18n.English.T("oauth.access_denied")) {
		t.Error("English explanation on the Spanish page")
	}
}
