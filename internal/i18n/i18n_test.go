package i18n

import (
	"context"
	"strings"
	"testing"
)

func TestPick(t *testing.T) {
	tests := []struct {
		ui     []string
		accept string
		want   Lang
	}{
		{nil, "", English},
		{nil, "es-SV,es;q=0.9,en;q=0.5", Spanish},
		{nil, "en-US,en;q=0.9,es;q=0.8", English},
		{nil, "fr-FR,es;q=0.5", Spanish},
		{nil, "fr-FR", English},
		{nil, "garbage;;;", English},
		{[]string{"es"}, "en-US", Spanish},
		{[]string{"es-419"}, "", Spanish},
		{[]string{"fr es"}, "en", Spanish},
		{[]string{"en"}, "es", English},
		{[]string{"de"}, "es", Spanish},
		{[]string{"!!"}, "", English},
	}
	for _, tt := range tests {
		if got := Pick(tt.ui, tt.accept); got != tt.want {
			t.Errorf("Pick(%q, %q) = %s, want %s", tt.ui, tt.accept, got, tt.want)
		}
	}
}

func TestCatalogsHaveTheSameKeys(t *testing.T) {
	for key, en := range catalog[English] {
		es, ok := catalog[Spanish][key]
		if !ok {
			t.Errorf("Spanish lacks %q", key)
			continue
		}
		if strings.TrimSpace(es) == "" || strings.TrimSpace(en) == "" {
			t.Errorf("%q is blank", key)
		}
		if strings.Count(en, "%") != strings.Count(es, "%") {
			t.Errorf("%q: the languages take different arguments", key)
		}
	}
	for key := range catalog[Spanish] {
		if _, ok := catalog[English][key]; !ok {
			t.Errorf("English lacks %q", key)
		}
	}
}

func TestT(t *testing.T) {
	ctx := WithLang(context.Background(), Spanish)
	if got := T(ctx, "action.continue"); got != "Continuar" {
		t.Errorf("T = %q", got)
	}
	if got := T(context.Background(), "action.continue"); got != "Continue" {
		t.Errorf("default language: %q", got)
	}
	if got := T(ctx, "login.for_app", "Pay"); got != "para continuar en la aplicación «Pay»" {
		t.Errorf("formatted: %q", got)
	}
	if got := T(ctx, "no.such.key"); got != "no.such.key" {
		t.Errorf("missing key: %q", got)
	}
}
