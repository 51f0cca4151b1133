// Package i18n holds every user-facing string in English and Spanish and picks
// the language for a request.
package i18n

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/text/language"
)

// Lang is a supported language: "en" or "es".
type Lang string

// The supported languages. English is the fallback.
const (
	English Lang = "en"
	Spanish Lang = "es"
)

var matcher = language.NewMatcher([]language.Tag{language.English, language.Spanish})

// Pick chooses the language from Hydra's ui_locales first, then the browser's
// Accept-Language header, then English.
func Pick(uiLocales []string, acceptLanguage string) Lang {
	for _, l := range uiLocales {
		// ui_locales is space-separated in OIDC; Hydra usually splits it, but not always.
		for _, f := range strings.Fields(l) {
			if lang, ok := exact(f); ok {
				return lang
			}
		}
	}
	if acceptLanguage != "" {
		tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
		if err == nil && len(tags) > 0 {
			_, idx, conf := matcher.Match(tags...)
			if conf != language.No {
				return []Lang{English, Spanish}[idx]
			}
		}
	}
	return English
}

// exact matches a single BCP 47 tag by its base language.
func exact(tag string) (Lang, bool) {
	t, err := language.Parse(tag)
	if err != nil {
		return "", false
	}
	base, _ := t.Base()
	switch base.String() {
	case "en":
		return English, true
	case "es":
		return Spanish, true
	}
	return "", false
}

type ctxKey struct{}

// WithLang returns a context that carries the page language.
func WithLang(ctx context.Context, l Lang) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the page language, English when none was set.
func FromContext(ctx context.Context) Lang {
	if l, ok := ctx.Value(ctxKey{}).(Lang); ok {
		return l
	}
	return English
}

// T returns the string for key in the context's language, formatted with args
// when given. A missing key shows as itself, so a gap is visible, not blank.
func T(ctx context.Context, key string, args ...any) string {
	return FromContext(ctx).T(key, args...)
}

// T returns the string for key in language l.
func (l Lang) T(key string, args ...any) string {
	s, ok := catalog[l][key]
	if !ok {
		s, ok = catalog[English][key]
	}
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Has reports whether key is in the catalog.
func Has(key string) bool {
	_, ok := catalog[English][key]
	return ok
}
