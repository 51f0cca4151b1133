package views

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/blinkbitcoin/blink-consent/internal/i18n"
)

// Each error page has one primary way forward — back to the app when Hydra
// named where, else Start again — and the support line beside its
// reference, linked when SUPPORT_URL is set; in both languages.
func TestErrorPageWaysForward(t *testing.T) {
	render := func(ctx context.Context, p Problem) string {
		var b bytes.Buffer
		if err := ErrorPage(p).Render(ctx, &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for _, lang := range []i18n.Lang{i18n.English, i18n.Spanish} {
		ctx := i18n.WithLang(context.Background(), lang)
		base := Problem{TitleKey: "error.used.title", BodyKey: "error.used.body", RequestID: "req-1"}

		both := base
		both.BackToApp, both.StartAgain = "https://hydra.example/oauth2/auth?login_verifier=v", "https://hydra.example/oauth2/auth?client_id=c"
		page := render(WithSupportURL(ctx, "https://support.example/help"), both)
		if n := strings.Count(page, "button primary"); n != 1 {
			t.Errorf("%s: %d primary buttons", lang, n)
		}
		if !strings.Contains(page, `<a class="button primary" href="https://hydra.example/oauth2/auth?login_verifier=v">`+lang.T("error.back_to_app")+`</a>`) ||
			!strings.Contains(page, `<a class="button secondary" href="https://hydra.example/oauth2/auth?client_id=c">`+lang.T("error.start_again")+`</a>`) {
			t.Errorf("%s: back to the app is not the primary action with Start again beside it:\n%s", lang, page)
		}
		if !strings.Contains(page, `href="https://support.example/help"`) || !strings.Contains(page, "req-1") {
			t.Errorf("%s: no support link beside the reference", lang)
		}

		start := base
		start.StartAgain = "https://hydra.example/oauth2/auth?client_id=c"
		page = render(ctx, start)
		if !strings.Contains(page, `<a class="button primary" href="https://hydra.example/oauth2/auth?client_id=c">`+lang.T("error.start_again")+`</a>`) {
			t.Errorf("%s: Start again is not the primary action", lang)
		}
		if strings.Contains(page, "support.example") || !strings.Contains(page, lang.T("error.support")) {
			t.Errorf("%s: without SUPPORT_URL the line names support without a link", lang)
		}
		checkCSPSafe(t, page)
	}
}
