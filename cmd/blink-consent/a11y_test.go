//go:build devstack

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// The accessibility check of every page: axe-core, the npm package pinned in
// tools/axe (scripts/ensure-axe.sh installs it; `make test` runs that), run
// inside Chromium on the page as the test left it, once in the light theme
// and once in the dark one. Zero WCAG 2.1 A and AA violations pass.

// axeTags are the rule sets axe runs: WCAG 2.0 and 2.1, levels A and AA.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

var axeSource struct {
	once sync.Once
	js   string
	err  error
}

// axeScript reads axe-core's axe.min.js from tools/axe/node_modules once.
func axeScript(t *testing.T) string {
	t.Helper()
	axeSource.once.Do(func() {
		path := filepath.Join("..", "..", "tools", "axe", "node_modules", "axe-core", "axe.min.js")
		b, err := os.ReadFile(path)
		if err != nil {
			axeSource.err = fmt.Errorf("the accessibility checks need axe-core (run ./scripts/ensure-axe.sh, which `make test` runs): %w", err)
			return
		}
		axeSource.js = string(b)
	})
	if axeSource.err != nil {
		t.Fatal(axeSource.err)
	}
	return axeSource.js
}

// axeViolation is the part of one axe-core violation a failure lists.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		// Target is a list of selectors, nested lists for frames and shadow roots.
		Target         []json.RawMessage `json:"target"`
		FailureSummary string            `json:"failureSummary"`
	} `json:"nodes"`
}

// axeReport is what the page returns: axe's version and violations, and
// what shows that the theme really applied.
type axeReport struct {
	Version    string         `json:"version"`
	Dark       bool           `json:"dark"`
	Background string         `json:"background"`
	Violations []axeViolation `json:"violations"`
}

// assertAccessible runs axe-core on the page ctx shows, in the light and in
// the dark theme (prefers-color-scheme emulated), and fails the test listing
// each violation: rule id, impact, the elements' selectors, axe's help text
// and what it measured. name says which page, in the failure. The page is
// left in the browser's own theme.
func assertAccessible(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	src := axeScript(t)
	tags, _ := json.Marshal(axeTags)
	run := fmt.Sprintf(`(async () => {
		if (typeof window.axe === "undefined") { %s }
		const r = await axe.run(document, {runOnly: {type: "tag", values: %s}, resultTypes: ["violations"]});
		return {
			version: axe.version,
			dark: matchMedia("(prefers-color-scheme: dark)").matches,
			background: getComputedStyle(document.body).backgroundColor,
			violations: r.violations,
		};
	})()`, src, tags)
	defer setColorScheme(ctx, "")
	backgrounds := map[string]string{}
	for _, scheme := range []string{"light", "dark"} {
		if err := setColorScheme(ctx, scheme); err != nil {
			t.Fatalf("%s: emulating the %s theme: %v", name, scheme, err)
		}
		rep, err := chromedp.Run(ctx, chromedp.Evaluate[axeReport](run, chromedp.EvalAwaitPromise, chromedp.EvalAsValue))
		if err != nil {
			t.Fatalf("%s: running axe-core in the %s theme: %v", name, scheme, err)
		}
		if rep.Dark != (scheme == "dark") {
			t.Fatalf("%s: the page did not get the %s theme (prefers-color-scheme: dark matches %v)", name, scheme, rep.Dark)
		}
		backgrounds[scheme] = rep.Background
		if len(rep.Violations) > 0 {
			t.Errorf("%s, %s theme: axe-core %s found %d WCAG 2.1 A/AA violation(s):\n%s", name, scheme, rep.Version, len(rep.Violations), describeViolations(rep.Violations))
		}
	}
	if backgrounds["light"] == backgrounds["dark"] {
		t.Errorf("%s: the light and dark themes have the same background (%s): the dark theme's CSS did not apply", name, backgrounds["light"])
	}
}

// setColorScheme emulates prefers-color-scheme (light or dark); "" ends the emulation.
func setColorScheme(ctx context.Context, scheme string) error {
	p := emulation.SetEmulatedMediaParams{}
	if scheme != "" {
		p.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	return chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, p)
		return err
	}))
}

// describeViolations writes one block per violation: what rule, how bad,
// where (each element's selector) and why (axe's own summary for it).
func describeViolations(vs []axeViolation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "  - %s (%s): %s <%s>\n", v.ID, v.Impact, v.Help, v.HelpURL)
		for _, n := range v.Nodes {
			targets := make([]string, len(n.Target))
			for i, sel := range n.Target {
				var plain string
				if json.Unmarshal(sel, &plain) != nil {
					plain = string(sel) // a frame's or shadow root's list of selectors
				}
				targets[i] = plain
			}
			fmt.Fprintf(&b, "      at %s\n", strings.Join(targets, " » "))
			for _, line := range strings.Split(strings.TrimSpace(n.FailureSummary), "\n") {
				fmt.Fprintf(&b, "        %s\n", strings.TrimSpace(line))
			}
		}
	}
	return b.String()
}
