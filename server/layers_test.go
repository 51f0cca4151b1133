package server

import (
	"os/exec"
	"strings"
	"testing"
)

// The layers, from the code's own imports: nothing under internal/ stands on
// a flow, on the pages every flow shares, on views or on this package, so a
// part can be tested, and changed, without the flows above it.
// docs/architecture.md, "Layout".
func TestInternalImportsNoFlowNorViews(t *testing.T) {
	const module = "github.com/blinkbitcoin/blink-consent/"
	above := []string{"login", "consent", "logout", "account", "oautherror", "devmessages", "pages", "views", "server", "cmd"}
	for _, tags := range []string{"", "devstack"} {
		cmd := exec.Command("go", "list", "-tags", tags, "-deps", "-test", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "../internal/...")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		checked := 0
		for line := range strings.Lines(string(out)) {
			fields := strings.Fields(line)
			pkg := fields[0]
			if !strings.HasPrefix(pkg, module+"internal/") {
				continue
			}
			checked++
			for _, dep := range fields[1:] {
				for _, a := range above {
					if dep == module+a || strings.HasPrefix(dep, module+a+"/") {
						t.Errorf("%s (tags %q) imports %s, a layer above internal/", pkg, tags, dep)
					}
				}
			}
		}
		if checked < 20 {
			t.Fatalf("go list named only %d internal packages (tags %q): the check would prove nothing", checked, tags)
		}
	}
}
