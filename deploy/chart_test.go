package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/blinkbitcoin/blink-consent/internal/config"
)

const (
	chartDir    = "helm/blink-consent"
	allOnValues = "helm/blink-consent/ci/all-on-values.yaml"
	// devValues hold what cannot go with the all-on values: DEV_MODE, the SMS webhook.
	devValues = "helm/blink-consent/ci/dev-values.yaml"
	// requiredValues is the one value the chart cannot default (publicUrl);
	// every render starts from it.
	requiredValues = "helm/blink-consent/ci/required-values.yaml"
)

// The variables whose values live in the existing Secret, never in values.
var secretVariables = []string{"DATABASE_URL", "SECRET_KEY", "SECRET_KEY_PREVIOUS", "SMTP_URL",
	"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SMS_WEBHOOK_SECRET", "CAPTCHA_SECRET_KEY", "ACCOUNT_CLIENT_SECRET"}

// Both value sets render, every object decodes strictly into its Kubernetes
// type, and the objects hang together (selectors, ports, names).
func TestChartRendersStrictly(t *testing.T) {
	for name, files := range map[string][]string{"default": nil, "all-on": {allOnValues}} {
		t.Run(name, func(t *testing.T) {
			r := render(t, files...)
			if len(r.all) == 0 {
				t.Fatal("nothing rendered")
			}
			pod := r.deployment.Spec.Template
			if !selects(r.deployment.Spec.Selector.MatchLabels, pod.Labels) {
				t.Errorf("the Deployment's selector %v does not match its pods %v", r.deployment.Spec.Selector.MatchLabels, pod.Labels)
			}
			if !selects(r.service.Spec.Selector, pod.Labels) {
				t.Errorf("the Service's selector %v does not match the pods %v", r.service.Spec.Selector, pod.Labels)
			}
			if r.pdb != nil && !selects(r.pdb.Spec.Selector.MatchLabels, pod.Labels) {
				t.Errorf("the PodDisruptionBudget's selector does not match the pods")
			}
			if r.pdb != nil && (r.pdb.Spec.MaxUnavailable == nil || r.pdb.Spec.MaxUnavailable.IntValue() < 1) {
				t.Errorf("the PodDisruptionBudget lets no pod go: %v", r.pdb.Spec.MaxUnavailable)
			}
			container := only(t, pod.Spec.Containers)
			for _, svc := range []*corev1.Service{r.service, r.metricsService} {
				if !selects(svc.Spec.Selector, pod.Labels) {
					t.Errorf("Service %s's selector %v does not match the pods %v", svc.Name, svc.Spec.Selector, pod.Labels)
				}
				for _, p := range svc.Spec.Ports {
					if _, ok := containerPort(container, p.TargetPort.StrVal); !ok {
						t.Errorf("Service port %s targets %q, which the container does not name", p.Name, p.TargetPort.StrVal)
					}
				}
			}
			if r.hpa != nil {
				ref := r.hpa.Spec.ScaleTargetRef
				if ref.Kind != "Deployment" || ref.Name != r.deployment.Name {
					t.Errorf("the HPA scales %s %s, not the Deployment %s", ref.Kind, ref.Name, r.deployment.Name)
				}
				if r.deployment.Spec.Replicas != nil {
					t.Errorf("with the HPA on the Deployment still sets replicas (%d): every upgrade would reset the HPA's count", *r.deployment.Spec.Replicas)
				}
			}
			if r.ingress != nil {
				for _, rule := range r.ingress.Spec.Rules {
					last := rule.HTTP.Paths[len(rule.HTTP.Paths)-1]
					if last.Path != "/" || last.Backend.Service.Name != r.service.Name || last.Backend.Service.Port.Name != "http" {
						t.Errorf("host %s: the catch-all path goes to %+v, not the Service's http port", rule.Host, last.Backend.Service)
					}
				}
			}
			if r.serviceMonitor != nil {
				sm := r.serviceMonitor
				if !selects(sm.Spec.Selector.MatchLabels, r.metricsService.Labels) || selects(sm.Spec.Selector.MatchLabels, r.service.Labels) {
					t.Errorf("the ServiceMonitor's selector %v does not pick the metrics Service (%v) alone", sm.Spec.Selector.MatchLabels, r.metricsService.Labels)
				}
				ep := only(t, sm.Spec.Endpoints)
				if ep.Port != "metrics" || ep.Path != "/metrics" {
					t.Errorf("the ServiceMonitor scrapes port %q path %q", ep.Port, ep.Path)
				}
				// The dashboards' and runbooks' queries name job="blink-consent".
				if job := r.metricsService.Labels[sm.Spec.JobLabel]; job != "blink-consent" {
					t.Errorf("the scrape job would be %q, not blink-consent", job)
				}
			}
		})
	}
}

// The optional objects appear only when asked for; the rest always.
func TestChartOptionalObjects(t *testing.T) {
	kinds := func(r rendered) []string {
		var k []string
		for _, o := range r.all {
			k = append(k, o.Kind)
		}
		slices.Sort(k)
		return k
	}
	if got, want := kinds(render(t)), []string{"Deployment", "Job", "PodDisruptionBudget", "Service", "Service"}; !slices.Equal(got, want) {
		t.Errorf("default values render %v, want %v", got, want)
	}
	want := []string{"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Ingress", "Job", "PodDisruptionBudget", "PrometheusRule", "Service", "Service", "ServiceMonitor"}
	if got := kinds(render(t, allOnValues)); !slices.Equal(got, want) {
		t.Errorf("all-on values render %v, want %v", got, want)
	}
}

// The pods run as non-root on a read-only root filesystem, with no privilege
// escalation, no capabilities, the runtime's seccomp profile, no API token and
// bounded resources; the migrate Job too.
func TestChartSecurityContext(t *testing.T) {
	for name, files := range map[string][]string{"default": nil, "all-on": {allOnValues}} {
		t.Run(name, func(t *testing.T) {
			r := render(t, files...)
			for what, spec := range map[string]corev1.PodSpec{"Deployment": r.deployment.Spec.Template.Spec, "migrate Job": r.migrate.Spec.Template.Spec} {
				if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
					t.Errorf("%s: the pod mounts a service account token", what)
				}
				ps := spec.SecurityContext
				if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
					t.Errorf("%s: pod securityContext %+v does not run as non-root", what, ps)
				}
				if ps == nil || ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("%s: pod seccomp profile is not RuntimeDefault", what)
				}
				c := only(t, spec.Containers)
				sc := c.SecurityContext
				switch {
				case sc == nil:
					t.Errorf("%s: no container securityContext", what)
				case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
					t.Errorf("%s: the root filesystem is writable", what)
				case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
					t.Errorf("%s: privilege escalation is allowed", what)
				case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
					t.Errorf("%s: capabilities %+v, want drop [ALL] and add none", what, sc.Capabilities)
				case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
					t.Errorf("%s: the container may run as root", what)
				case sc.Privileged != nil && *sc.Privileged:
					t.Errorf("%s: privileged", what)
				}
				for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					if q, ok := c.Resources.Requests[res]; !ok || q.IsZero() {
						t.Errorf("%s: no %s request", what, res)
					}
					if q, ok := c.Resources.Limits[res]; !ok || q.IsZero() {
						t.Errorf("%s: no %s limit", what, res)
					}
				}
			}
		})
	}
}

// Liveness is /healthz and readiness /readyz, both on the port METRICS_ADDR
// listens on (server: healthRoutes).
func TestChartProbes(t *testing.T) {
	for name, files := range map[string][]string{"default": nil, "all-on": {allOnValues}} {
		t.Run(name, func(t *testing.T) {
			c := only(t, render(t, files...).deployment.Spec.Template.Spec.Containers)
			metricsAddr := envValue(t, c, "METRICS_ADDR")
			for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
				if probe == nil || probe.HTTPGet == nil {
					t.Errorf("no HTTP probe for %s", want)
					continue
				}
				if probe.HTTPGet.Path != want {
					t.Errorf("probe path %q, want %q", probe.HTTPGet.Path, want)
				}
				port, ok := containerPort(c, probe.HTTPGet.Port.StrVal)
				if !ok || ":"+fmt.Sprint(port) != metricsAddr {
					t.Errorf("probe %s goes to port %v (%d), METRICS_ADDR is %q", want, probe.HTTPGet.Port, port, metricsAddr)
				}
			}
			if listen := envValue(t, c, "LISTEN_ADDR"); listen == metricsAddr {
				t.Errorf("LISTEN_ADDR and METRICS_ADDR are both %q", listen)
			}
		})
	}
}

// migrate runs as a pre-install and pre-upgrade hook, with the database URL
// from the Secret, once (restartPolicy Never, bounded retries and time).
func TestChartMigrateHook(t *testing.T) {
	for name, files := range map[string][]string{"default": nil, "all-on": {allOnValues}} {
		t.Run(name, func(t *testing.T) {
			r := render(t, files...)
			job := r.migrate
			hooks := strings.Split(job.Annotations["helm.sh/hook"], ",")
			if !slices.Contains(hooks, "pre-install") || !slices.Contains(hooks, "pre-upgrade") {
				t.Errorf("hook annotation %q, want pre-install and pre-upgrade", job.Annotations["helm.sh/hook"])
			}
			if !strings.Contains(job.Annotations["helm.sh/hook-delete-policy"], "before-hook-creation") {
				t.Errorf("hook-delete-policy %q: a failed Job would block the next upgrade", job.Annotations["helm.sh/hook-delete-policy"])
			}
			spec := job.Spec.Template.Spec
			if spec.RestartPolicy != corev1.RestartPolicyNever || job.Spec.BackoffLimit == nil || job.Spec.ActiveDeadlineSeconds == nil {
				t.Errorf("restartPolicy %q, backoffLimit %v, activeDeadlineSeconds %v", spec.RestartPolicy, job.Spec.BackoffLimit, job.Spec.ActiveDeadlineSeconds)
			}
			c := only(t, spec.Containers)
			if !slices.Equal(c.Args, []string{"migrate"}) || c.Image != only(t, r.deployment.Spec.Template.Spec.Containers).Image {
				t.Errorf("the Job runs %s %v, want the Deployment's image with migrate", c.Image, c.Args)
			}
			e := only(t, c.Env)
			if e.Name != "DATABASE_URL" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
				e.ValueFrom.SecretKeyRef.Name != r.values.ExistingSecret || e.ValueFrom.SecretKeyRef.Key != "DATABASE_URL" {
				t.Errorf("the Job's env %+v does not read DATABASE_URL from the Secret %q", e, r.values.ExistingSecret)
			}
		})
	}
}

// Secret settings come from the existing Secret by reference: the chart
// renders no Secret and inlines no secret value.
func TestChartSecretsByReference(t *testing.T) {
	for name, files := range map[string][]string{"default": nil, "all-on": {allOnValues}} {
		t.Run(name, func(t *testing.T) {
			r := render(t, files...)
			if r.values.ExistingSecret == "" {
				t.Fatal("no existingSecret in the values")
			}
			for _, o := range r.all {
				if o.Kind == "Secret" {
					t.Errorf("the chart renders a Secret (%s)", o.Name)
				}
			}
			c := only(t, r.deployment.Spec.Template.Spec.Containers)
			for _, name := range secretVariables {
				e, ok := findEnv(c, name)
				if !ok {
					t.Errorf("%s is not read from the Secret", name)
					continue
				}
				if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					t.Errorf("%s is not a Secret reference: %+v", name, e)
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if ref.Name != r.values.ExistingSecret || ref.Key != name {
					t.Errorf("%s reads key %q of Secret %q, want key %s of %q", name, ref.Key, ref.Name, name, r.values.ExistingSecret)
				}
				required := name == "DATABASE_URL" || name == "SECRET_KEY"
				if optional := ref.Optional != nil && *ref.Optional; optional == required {
					t.Errorf("%s: optional is %v", name, optional)
				}
			}
		})
	}
}

// Every setting of README.md's configuration table reaches the Deployment
// from the all-on values, through the value README's chart table names, and
// the chart sets no variable the service does not read.
func TestChartCoversEveryREADMESetting(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	settings := tableNames(t, string(readme), "## Configuration")
	if len(settings) < 30 {
		t.Fatalf("read only %d settings from README's configuration table: %v", len(settings), settings)
	}
	mapping := chartMapping(t, string(readme))
	// Every setting reaches the Deployment of the all-on values or, for
	// DEV_MODE and the SMS webhook, of the dev values.
	type source struct {
		file   string
		c      corev1.Container
		values map[string]any
	}
	var sources []source
	for _, f := range []string{allOnValues, devValues} {
		src := source{file: f, c: only(t, render(t, f).deployment.Spec.Template.Spec.Containers)}
		readYAML(t, f, &src.values)
		sources = append(sources, src)
	}
	c := sources[0].c
	var defaults map[string]any
	readYAML(t, filepath.Join(chartDir, "values.yaml"), &defaults)

	for _, name := range settings {
		// "—" in the chart table: the chart leaves it unset on purpose (PORT:
		// the chart sets LISTEN_ADDR, which wins).
		if mapping[name] == "—" {
			for _, src := range sources {
				if _, ok := findEnv(src.c, name); ok {
					t.Errorf("%s: README's chart table says the chart does not set it, but %s's Deployment does", name, src.file)
				}
			}
			continue
		}
		var e *corev1.EnvVar
		var values map[string]any
		for _, src := range sources {
			var found []corev1.EnvVar
			for _, x := range src.c.Env {
				if x.Name == name {
					found = append(found, x)
				}
			}
			if len(found) > 1 {
				t.Errorf("%s: %d env entries in the Deployment of %s, want 1", name, len(found), src.file)
			}
			if len(found) == 1 && e == nil {
				e, values = &found[0], src.values
			}
		}
		if e == nil {
			t.Errorf("%s: in neither the all-on nor the dev Deployment", name)
			continue
		}
		path, ok := mapping[name]
		if !ok {
			t.Errorf("%s: no row in README's chart values table", name)
			continue
		}
		if slices.Contains(secretVariables, name) {
			if path != "Secret" {
				t.Errorf("%s: README's chart table says %q, but the chart reads it from the Secret", name, path)
			}
			continue
		}
		if e.Value == "" {
			t.Errorf("%s: empty in the Deployment", name)
		}
		if _, ok := lookup(defaults, path); !ok {
			t.Errorf("%s: README's chart table names %q, which values.yaml lacks", name, path)
			continue
		}
		v, ok := lookup(values, path)
		if !ok {
			t.Errorf("%s: the values do not set %q", name, path)
			continue
		}
		if want := derived(name, v); e.Value != want {
			t.Errorf("%s = %q, want %q from %s", name, e.Value, want, path)
		}
	}
	for _, src := range sources {
		for _, e := range src.c.Env {
			// GOMEMLIMIT comes from extraEnv; the tracing variables are Blink's chart's.
			if !slices.Contains(settings, e.Name) && !slices.Contains([]string{"GOMEMLIMIT", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "TRACING_SERVICE_NAME"}, e.Name) {
				t.Errorf("the chart sets %s, which README's configuration table does not list", e.Name)
			}
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "TRACING_SERVICE_NAME"} {
		if _, ok := findEnv(c, name); !ok {
			t.Errorf("%s is not set with tracing on", name)
		}
	}
	if ca, ok := findEnv(c, "SMTP_CA_FILE"); ok {
		mounted := false
		for _, m := range c.VolumeMounts {
			mounted = mounted || strings.HasPrefix(ca.Value, m.MountPath+"/")
		}
		if !mounted {
			t.Errorf("SMTP_CA_FILE %s is on no mounted volume", ca.Value)
		}
	}
}

// A misspelt or malformed value fails the render (values.schema.json) rather
// than being ignored, and the values the chart ships pass.
func TestChartRefusesUnknownValues(t *testing.T) {
	helm := helmBin(t)
	for _, set := range []string{"hydraAdminURL=http://hydra:4445", "smtp.form=Blink", "rateLimits.sendEmail=4 per hour",
		"rateLimits.sendIp=of", "log.level=verbose", "identitySource=kratos", "image.digest=latest", "databaseMaxConns=0", "databaseMaxConns=ten"} {
		out, err := exec.Command(helm, "template", "consent", chartDir, "--set", set).CombinedOutput()
		if err == nil {
			t.Errorf("--set %s rendered", set)
		} else if !strings.Contains(string(out), "values don't meet the specifications of the schema") {
			t.Errorf("--set %s failed for another reason: %s", set, out)
		}
	}
	// "off" turns a limit off in the service (config's parseLimit), so the schema takes it.
	if out, err := exec.Command(helm, "lint", "--strict", chartDir, "--values", requiredValues,
		"--set-string", "rateLimits.sendIp=off,rateLimits.failIp=OFF,rateLimits.sendEmail=4/1h").CombinedOutput(); err != nil {
		t.Errorf("helm lint refused rateLimits off: %v\n%s", err, out)
	}
}

// A chart for users (an https publicUrl) cannot be installed without
// trustedProxies: behind an unlisted ingress every client would share its
// address in the per-IP limits, ours and Blink core's. [none] is the explicit
// "no proxy in front"; a bare address is refused (a CIDR is needed).
func TestChartRequiresTrustedProxies(t *testing.T) {
	helm := helmBin(t)
	template := func(sets ...string) (string, error) {
		args := []string{"template", "consent", chartDir}
		for _, s := range sets {
			args = append(args, "--set", s)
		}
		out, err := exec.Command(helm, args...).CombinedOutput()
		return string(out), err
	}
	if out, err := template("publicUrl=https://login.blink.sv"); err == nil || !strings.Contains(out, "/trustedProxies") {
		t.Errorf("an https publicUrl without trustedProxies rendered (or failed for another reason): %v %s", err, out)
	}
	if out, err := template("publicUrl=https://login.blink.sv", "trustedProxies={10.0.0.1}"); err == nil || !strings.Contains(out, "/trustedProxies/0") {
		t.Errorf("trustedProxies with an address, not a CIDR, rendered: %v %s", err, out)
	}
	for _, ok := range []string{"trustedProxies={none}", "trustedProxies={10.42.0.0/16,10.43.0.0/16}"} {
		if out, err := template("publicUrl=https://login.blink.sv", ok); err != nil {
			t.Errorf("%s refused: %v %s", ok, err, out)
		}
	}
}

// Blink's galoy chart names apps/consent's Service "consent": serviceName
// keeps that name (the all-on values set it), and the Ingress follows it.
func TestChartKeepsBlinksServiceName(t *testing.T) {
	if r := render(t, allOnValues); r.service.Name != "consent" || r.ingress == nil ||
		r.ingress.Spec.Rules[0].HTTP.Paths[len(r.ingress.Spec.Rules[0].HTTP.Paths)-1].Backend.Service.Name != "consent" {
		t.Errorf("serviceName consent: the Service is %q", r.service.Name)
	}
	if r := render(t); r.service.Name != "consent-blink-consent" {
		t.Errorf("without serviceName the Service is %q, want the release's full name", r.service.Name)
	}
}

// The service accepts the environment the chart gives it: the all-on values
// (made consistent: DEV_MODE off with an https PUBLIC_URL, SMS by Twilio and
// not also a webhook) load through internal/config with a Secret holding every
// key, and the chart's list and duration formats parse as the values meant.
// With the default values, the service refuses to start naming PUBLIC_URL.
func TestChartEnvironmentLoads(t *testing.T) {
	secret := map[string]string{
		"DATABASE_URL":          "postgres://consent:pw@postgres.auth.svc:5432/consent?sslmode=verify-full",
		"SECRET_KEY":            strings.Repeat("ab", 32),
		"SECRET_KEY_PREVIOUS":   strings.Repeat("cd", 32),
		"SMTP_URL":              "smtp://apikey:pw@smtp.example.com:587",
		"TWILIO_ACCOUNT_SID":    "AC0123456789abcdef0123456789abcdef",
		"TWILIO_AUTH_TOKEN":     "token",
		"SMS_WEBHOOK_SECRET":    strings.Repeat("s", 40),
		"CAPTCHA_SECRET_KEY":    "captcha-secret",
		"ACCOUNT_CLIENT_SECRET": "account-client-secret",
	}
	getenv := func(t *testing.T, r rendered) func(string) string {
		env := map[string]string{}
		for _, e := range only(t, r.deployment.Spec.Template.Spec.Containers).Env {
			switch {
			case e.ValueFrom == nil:
				env[e.Name] = e.Value
			case e.ValueFrom.SecretKeyRef != nil:
				env[e.Name] = secret[e.ValueFrom.SecretKeyRef.Key]
			default:
				t.Fatalf("%s comes from %+v", e.Name, e.ValueFrom)
			}
		}
		return func(name string) string { return env[name] }
	}

	c, err := config.Load(getenv(t, render(t, allOnValues)))
	if err != nil {
		t.Fatalf("the service refuses the all-on environment: %v", err)
	}
	if c.ListenAddr != ":3000" || c.MetricsAddr != ":9090" || c.PublicURL.String() != "https://login.blink.sv" || !c.Blink() {
		t.Errorf("listen %q, metrics %q, public URL %v, identity %q", c.ListenAddr, c.MetricsAddr, c.PublicURL, c.IdentitySource)
	}
	if got := fmt.Sprint(c.SignIn.TrustedProxies); got != "[10.0.0.0/8 172.16.0.0/12]" {
		t.Errorf("trusted proxies %s", got)
	}
	if !slices.Equal(c.SignIn.SMSCountries, []string{"SV", "US", "GT"}) {
		t.Errorf("SMS countries %v", c.SignIn.SMSCountries)
	}
	if l := c.SignIn.SendPerEmail; l.Max != 5 || l.Window != time.Hour {
		t.Errorf("RATE_SEND_EMAIL read as %+v", l)
	}
	if c.ConsentRememberFor != 0 || c.Retention != 72*time.Hour || c.ShutdownDelay != 10*time.Second || len(c.SecretKeyPrevious) != 1 {
		t.Errorf("consent %v, retention %v, shutdown delay %v, %d previous keys", c.ConsentRememberFor, c.Retention, c.ShutdownDelay, len(c.SecretKeyPrevious))
	}
	if c.DatabaseMaxConns != 12 {
		t.Errorf("DATABASE_MAX_CONNS read as %d", c.DatabaseMaxConns)
	}
	if c.SignIn.SMTPCAFile != "/etc/blink-consent/smtp-ca/ca.pem" || c.SignIn.CaptchaProvider != "turnstile" {
		t.Errorf("SMTP CA file %q, captcha %q", c.SignIn.SMTPCAFile, c.SignIn.CaptchaProvider)
	}

	// The defaults and the dev values with a Secret of only what they need.
	for _, key := range []string{"SMTP_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "CAPTCHA_SECRET_KEY", "ACCOUNT_CLIENT_SECRET"} {
		delete(secret, key)
	}
	if c, err := config.Load(getenv(t, render(t, devValues))); err != nil {
		t.Errorf("the service refuses the environment of the dev values: %v", err)
	} else if !c.DevMode || c.SignIn.SMSWebhookURL == "" {
		t.Errorf("the dev values: DEV_MODE %v, SMS webhook %q", c.DevMode, c.SignIn.SMSWebhookURL)
	}
	// The defaults lack only what the chart cannot see: a sender's credential
	// in the Secret (SMTP_URL with smtp.from, Twilio's, a webhook's), or
	// identitySource blink.
	_, err = config.Load(getenv(t, render(t)))
	if err == nil || strings.Count(err.Error(), "\n") != 1 || !strings.Contains(err.Error(), "SMTP_URL: no way to send codes") {
		t.Errorf("the defaults with publicUrl: the service should refuse only for want of a sender, got %v", err)
	}
}

// What the service refuses at start, the chart refuses at `helm lint` (its
// values.schema.json mirrors the service's checks: required values, URL
// forms, CIDRs, the settings that need one another), so a bad value fails the
// release instead of crash-looping its pods after a "successful" one. Each bad
// set is also checked against the service: the same value in an environment
// the chart renders from good values is refused by internal/config.
func TestChartRefusesWhatTheServiceRefuses(t *testing.T) {
	helm := helmBin(t)
	good := render(t, allOnValues)
	for _, c := range []struct {
		name string
		set  []string          // --set-string, on top of the all-on values (or alone: bare)
		bare bool              // on the chart's defaults, without required-values.yaml
		env  map[string]string // the same mistake in the service's environment
	}{
		{"no publicUrl (the chart's default)", nil, true, map[string]string{"PUBLIC_URL": ""}},
		{"an http publicUrl without devMode", []string{"publicUrl=http://login.blink.sv"}, false, map[string]string{"PUBLIC_URL": "http://login.blink.sv"}},
		{"a publicUrl with a query", []string{"publicUrl=https://login.blink.sv/?a=b"}, false, map[string]string{"PUBLIC_URL": "https://login.blink.sv/?a=b"}},
		{"devMode on a public host", []string{"devMode=true"}, false, map[string]string{"DEV_MODE": "true"}}, // --set: a boolean
		{"a bare IP in trustedProxies", []string{"trustedProxies[0]=10.0.0.1"}, false, map[string]string{"TRUSTED_PROXIES": "10.0.0.1"}},
		{"the whole internet in trustedProxies", []string{"trustedProxies[0]=0.0.0.0/0"}, false, map[string]string{"TRUSTED_PROXIES": "0.0.0.0/0"}},
		{"all of IPv6 in trustedProxies", []string{"trustedProxies[0]=::/0"}, false, map[string]string{"TRUSTED_PROXIES": "::/0"}},
		{"blink without coreAuthUrl", []string{"coreAuthUrl="}, false, map[string]string{"CORE_AUTH_URL": ""}},
		{"the account page without hydraPublicUrl", []string{"hydraPublicUrl="}, false, map[string]string{"HYDRA_PUBLIC_URL": ""}},
		{"turnstile without its site key", []string{"captcha.siteKey="}, false, map[string]string{"CAPTCHA_SITE_KEY": ""}},
		{"SMS by Twilio and a webhook", []string{"smsWebhook.url=https://gw.example.com/send"}, false, map[string]string{"SMS_WEBHOOK_URL": "https://gw.example.com/send"}},
		{"retention in seconds", []string{"retention=3600"}, false, map[string]string{"RETENTION": "3600"}},
		{"a three-letter country", []string{"smsCountries[0]=SLV"}, false, map[string]string{"SMS_COUNTRIES": "SLV"}},
	} {
		args := []string{"lint", "--strict", chartDir}
		if !c.bare {
			args = append(args, "--values", allOnValues)
		}
		for _, set := range c.set {
			flag := "--set-string"
			if set == "devMode=true" {
				flag = "--set"
			}
			args = append(args, flag, set)
		}
		out, err := exec.Command(helm, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "values don't meet the specifications of the schema") {
			t.Errorf("%s: helm lint did not refuse it by the schema (%v):\n%s", c.name, err, out)
		}
		env := map[string]string{}
		for _, e := range only(t, good.deployment.Spec.Template.Spec.Containers).Env {
			if e.ValueFrom == nil {
				env[e.Name] = e.Value
			}
		}
		for k, v := range map[string]string{"DATABASE_URL": "postgres://c:pw@db:5432/c", "SECRET_KEY": strings.Repeat("ab", 32),
			"SMTP_URL": "smtp://u:pw@smtp.example.com:587", "TWILIO_ACCOUNT_SID": "AC0", "TWILIO_AUTH_TOKEN": "t",
			"SMS_WEBHOOK_SECRET": strings.Repeat("s", 40), "CAPTCHA_SECRET_KEY": "c", "ACCOUNT_CLIENT_SECRET": "a"} {
			env[k] = v
		}
		if _, err := config.Load(func(k string) string { return env[k] }); err != nil {
			t.Fatalf("the all-on environment is refused: %v", err)
		}
		for k, v := range c.env {
			env[k] = v
		}
		if _, err := config.Load(func(k string) string { return env[k] }); err == nil {
			t.Errorf("%s: the service accepts it, so the chart should too", c.name)
		}
	}
}

// derived is what the chart makes of a value for a variable.
func derived(name string, v any) string {
	switch name {
	case "LISTEN_ADDR", "METRICS_ADDR":
		return fmt.Sprintf(":%v", v)
	case "SMTP_CA_FILE":
		return "/etc/blink-consent/smtp-ca/ca.pem"
	}
	if list, ok := v.([]any); ok {
		var s []string
		for _, x := range list {
			s = append(s, fmt.Sprint(x))
		}
		return strings.Join(s, ",")
	}
	return fmt.Sprint(v)
}

// tableNames are the backquoted names in the first column of the first table under heading.
func tableNames(t *testing.T, doc, heading string) []string {
	t.Helper()
	_, section, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q", heading)
	}
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	var names []string
	inTable := false
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(line, "|")
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, m[1])
		}
	}
	return names
}

// chartMapping reads README's table of chart values: variable → values path,
// or "Secret" for a key of the existing Secret.
func chartMapping(t *testing.T, doc string) map[string]string {
	t.Helper()
	_, section, ok := strings.Cut(doc, "\n### The chart's values\n")
	if !ok {
		t.Fatal(`README has no "### The chart's values"`)
	}
	row := regexp.MustCompile("^\\| ((?:`[A-Z0-9_]+`(?:, )?)+) \\| (?:`([A-Za-z0-9.]+)`|(Secret) key|(—) )")
	m := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		r := row.FindStringSubmatch(line)
		if r == nil {
			continue
		}
		for _, name := range strings.Split(r[1], ", ") {
			m[strings.Trim(name, "`")] = r[2] + r[3] + r[4]
		}
	}
	if len(m) == 0 {
		t.Fatal("README's chart values table has no rows")
	}
	return m
}

func lookup(values map[string]any, path string) (any, bool) {
	var v any = values
	for _, key := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// serviceMonitor is prometheus-operator's monitoring.coreos.com/v1
// ServiceMonitor, as far as this chart uses it (decoded strictly, an unknown
// field fails as it would on the API server with the CRD installed).
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// prometheusRule is prometheus-operator's monitoring.coreos.com/v1
// PrometheusRule, decoded strictly like the ServiceMonitor.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ruleFile `json:"spec"`
}

// ruleFile is Prometheus's rule-file format, as far as the alerts use it.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// chartValues are the values the tests read back.
type chartValues struct {
	ExistingSecret string `json:"existingSecret"`
}

type object struct {
	metav1.TypeMeta
	Name string
}

type rendered struct {
	all            []object
	values         chartValues
	deployment     *appsv1.Deployment
	service        *corev1.Service
	metricsService *corev1.Service
	migrate        *batchv1.Job
	pdb            *policyv1.PodDisruptionBudget
	hpa            *autoscalingv2.HorizontalPodAutoscaler
	ingress        *networkingv1.Ingress
	serviceMonitor *serviceMonitor
	prometheusRule *prometheusRule
	configMap      *corev1.ConfigMap
}

var renders sync.Map // values files → rendered

// render runs the pinned helm's lint and template on the chart with the
// values files and decodes every object strictly into its type (once per
// set of values files).
func render(t *testing.T, valuesFiles ...string) rendered {
	t.Helper()
	key := strings.Join(valuesFiles, "\x00")
	if r, ok := renders.Load(key); ok {
		return r.(rendered)
	}
	helm := helmBin(t)
	valuesFiles = append([]string{requiredValues}, valuesFiles...)
	var args []string
	for _, f := range valuesFiles {
		args = append(args, "--values", f)
	}
	run(t, helm, append([]string{"lint", "--strict", chartDir}, args...)...)
	out := run(t, helm, append([]string{"template", "consent", chartDir, "--namespace", "auth"}, args...)...)

	var r rendered
	r.values = chartValues{ExistingSecret: "blink-consent"}
	for _, f := range valuesFiles {
		readYAML(t, f, &r.values)
	}
	for i, doc := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(out, -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			t.Fatalf("document %d is not YAML: %v\n%s", i, err, doc)
		}
		var tm metav1.TypeMeta
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, &tm); err != nil {
			t.Fatal(err)
		}
		var into any
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			r.deployment = one(t, r.deployment, "Deployment")
			into = r.deployment
		case "v1 Service":
			var meta struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			}
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, &meta); err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(meta.Metadata.Name, "-metrics") {
				r.metricsService = one(t, r.metricsService, "metrics Service")
				into = r.metricsService
			} else {
				r.service = one(t, r.service, "Service")
				into = r.service
			}
		case "batch/v1 Job":
			r.migrate = one(t, r.migrate, "Job")
			into = r.migrate
		case "policy/v1 PodDisruptionBudget":
			r.pdb = one(t, r.pdb, "PodDisruptionBudget")
			into = r.pdb
		case "autoscaling/v2 HorizontalPodAutoscaler":
			r.hpa = one(t, r.hpa, "HorizontalPodAutoscaler")
			into = r.hpa
		case "networking.k8s.io/v1 Ingress":
			r.ingress = one(t, r.ingress, "Ingress")
			into = r.ingress
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.serviceMonitor = one(t, r.serviceMonitor, "ServiceMonitor")
			into = r.serviceMonitor
		case "monitoring.coreos.com/v1 PrometheusRule":
			r.prometheusRule = one(t, r.prometheusRule, "PrometheusRule")
			into = r.prometheusRule
		case "v1 ConfigMap":
			r.configMap = one(t, r.configMap, "ConfigMap")
			into = r.configMap
		default:
			t.Fatalf("the chart renders %s %s, which this test does not know", tm.APIVersion, tm.Kind)
		}
		strict, err := sigsjson.UnmarshalStrict(j, into)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tm.Kind, err, doc)
		}
		if len(strict) > 0 {
			t.Fatalf("%s does not decode strictly into its type: %v\n%s", tm.Kind, strict, doc)
		}
		var meta struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, &meta); err != nil || meta.Metadata.Name == "" {
			t.Fatalf("%s has no name (%v)", tm.Kind, err)
		}
		r.all = append(r.all, object{TypeMeta: tm, Name: meta.Metadata.Name})
	}
	if r.deployment == nil || r.service == nil || r.metricsService == nil || r.migrate == nil {
		t.Fatalf("no Deployment, Service or migrate Job in:\n%s", out)
	}
	renders.Store(key, r)
	return r
}

// helmBin is the pinned helm (make bin/helm), or HELM_BIN.
func helmBin(t *testing.T) string {
	return toolBin(t, "HELM_BIN", "helm", "make bin/helm (tools/helm pins v3.22.0)")
}

// toolBin is the path of a pinned tool: $env when set, else bin/name, built by make.
func toolBin(t *testing.T, env, name, build string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		path = filepath.Join("..", "bin", name)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("no %s at %s (%v): run `%s` or set %s", name, abs, err, build, env)
	}
	return abs
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func one[T any](t *testing.T, seen *T, kind string) *T {
	t.Helper()
	if seen != nil {
		t.Fatalf("the chart renders more than one %s", kind)
	}
	return new(T)
}

func only[T any](t *testing.T, list []T) T {
	t.Helper()
	if len(list) != 1 {
		t.Fatalf("want exactly one, got %d: %+v", len(list), list)
	}
	return list[0]
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func containerPort(c corev1.Container, name string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

func findEnv(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}

func envValue(t *testing.T, c corev1.Container, name string) string {
	t.Helper()
	e, ok := findEnv(c, name)
	if !ok {
		t.Fatalf("no %s in the container's env", name)
	}
	return e.Value
}

// RETENTION and AUDIT_RETENTION: the chart's schema takes a value in exactly
// the formats the service reads (a Go duration, whole days, 0), so a value
// the service would refuse for its form fails `helm lint` instead of
// crash-looping the pods after a "successful" release. (The minimums, 1h and
// 24h, are the service's to check at start: the error names the setting.)
func TestChartRetentionFormatsAreTheServices(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]struct {
			Pattern string `json:"pattern"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	values := []string{"7d", "90d", "0d", "168h", "2160h", "1h30m", "1.5h", ".5h", "5.h", "+168h", "0", "+0", "-0", "90m", "3600s", "1µs",
		"3600", "7 d", "1.5d", "-7d", "+7d", "d", "1w", "168H", "-1h", "soon", "00", "123456d", "h", ".h", "7dd", " 7d"}
	for _, key := range []string{"retention", "auditRetention"} {
		pattern := regexp.MustCompile(schema.Properties[key].Pattern)
		for _, v := range values {
			_, err := config.ParseDays(v)
			if chart, service := pattern.MatchString(v), err == nil; chart != service {
				t.Errorf("%s=%q: the chart's schema accepts it %v, the service %v", key, v, chart, service)
			}
		}
	}
	helm := helmBin(t)
	if out, err := exec.Command(helm, "lint", "--strict", chartDir, "--set", "publicUrl=https://login.example.com", "--set-string", "retention=3600").CombinedOutput(); err == nil {
		t.Errorf("helm lint took retention=3600 (seconds, which the service refuses):\n%s", out)
	}
	if out, err := exec.Command(helm, "lint", "--strict", chartDir, "--values", requiredValues, "--set-string", "retention=7d,auditRetention=90d").CombinedOutput(); err != nil {
		t.Errorf("helm lint refused retention=7d, auditRetention=90d: %v\n%s", err, out)
	}
}

// The PrometheusRule holds exactly the rule file promtool tests, every alert
// with its expression, labels and annotations ({{ $value }} left to Prometheus).
func TestChartPrometheusRuleIsTheRulesFile(t *testing.T) {
	file := readRules(t)
	r := render(t, allOnValues)
	if r.prometheusRule == nil {
		t.Fatal("no PrometheusRule with prometheusRule.enabled")
	}
	if got, want := fmt.Sprintf("%+v", r.prometheusRule.Spec), fmt.Sprintf("%+v", file); got != want || len(file.Groups) == 0 {
		t.Errorf("the PrometheusRule's spec is not the rule file:\n%s\nwant\n%s", got, want)
	}
	if r.prometheusRule.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("prometheusRule.labels not on the object: %v", r.prometheusRule.Labels)
	}
}

// The small traps of a chart (issue 18): /metrics and /readyz never on the
// public Service, whatever serviceType; a changed Secret or CA rolls the pods;
// replicas spread across nodes by default; NOTES.txt names the image's
// version, the trusted proxies and where the migrate Job's log is.
func TestChartOperatesWithoutSurprises(t *testing.T) {
	lb := filepath.Join(t.TempDir(), "lb.yaml")
	if err := os.WriteFile(lb, []byte("serviceType: LoadBalancer\nnameOverride: consent-x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := render(t, lb)
	if r.service.Spec.Type != corev1.ServiceTypeLoadBalancer || len(r.service.Spec.Ports) != 1 || r.service.Spec.Ports[0].Name != "http" {
		t.Errorf("the public Service: type %s, ports %+v; want only http", r.service.Spec.Type, r.service.Spec.Ports)
	}
	if r.metricsService.Spec.Type != corev1.ServiceTypeClusterIP || len(r.metricsService.Spec.Ports) != 1 || r.metricsService.Spec.Ports[0].Name != "metrics" {
		t.Errorf("the metrics Service: type %s, ports %+v; want ClusterIP with metrics only", r.metricsService.Spec.Type, r.metricsService.Spec.Ports)
	}
	annotations := r.deployment.Spec.Template.Annotations
	for _, key := range []string{"checksum/secret", "checksum/smtp-ca"} {
		if annotations[key] == "" {
			t.Errorf("the pods have no %s annotation: %v", key, annotations)
		}
	}
	spread := r.deployment.Spec.Template.Spec.TopologySpreadConstraints
	if len(spread) != 1 || spread[0].TopologyKey != "kubernetes.io/hostname" || spread[0].WhenUnsatisfiable != corev1.ScheduleAnyway ||
		spread[0].LabelSelector == nil || !selects(spread[0].LabelSelector.MatchLabels, r.deployment.Spec.Template.Labels) {
		t.Errorf("default spreading: %+v", spread)
	}
	// The alerts name no job, so nameOverride (which renames the scrape job) cannot break them.
	for _, g := range readRules(t).Groups {
		for _, rule := range g.Rules {
			if strings.Contains(rule.Expr, "job=") {
				t.Errorf("%s selects a scrape job: %s", rule.Alert, rule.Expr)
			}
		}
	}

	notes := renderNotes(t, "--set", "image.tag=v1.4.0", "--set", "trustedProxies={10.0.0.0/8}")
	for _, want := range []string{"blink-consent v1.4.0 (blinkbitcoin/blink-consent:v1.4.0)", "kubectl -n auth logs job/consent-blink-consent-migrate",
		"Trusted proxies (their X-Forwarded-For is believed): 10.0.0.0/8", "consent-blink-consent-metrics"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
		}
	}
	if notes := renderNotes(t, "--set", "trustedProxies={none}"); !strings.Contains(notes, "No proxy in front (trustedProxies [none])") {
		t.Errorf("NOTES.txt does not say trustedProxies [none]:\n%s", notes)
	}
	// Only a loopback publicUrl (a developer's machine) may leave it empty.
	if notes := renderNotes(t, "--set", "publicUrl=http://localhost:3000,devMode=true,hydraPublicUrl=http://localhost:4444", "--set", "trustedProxies=null"); !strings.Contains(notes, "WARNING: trustedProxies is empty") {
		t.Errorf("NOTES.txt does not warn about empty trustedProxies:\n%s", notes)
	}
}

// renderNotes renders NOTES.txt as `helm install` prints it, without a
// cluster: a copy of the chart wraps it in a ConfigMap that helm template shows.
func renderNotes(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blink-consent")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(chartDir, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	wrapper := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get \"notes.txt\") . | quote }}\n"
	if os.WriteFile(filepath.Join(dir, "notes.txt"), notes, 0o600) != nil || os.WriteFile(filepath.Join(dir, "templates", "notes-cm.yaml"), []byte(wrapper), 0o600) != nil {
		t.Fatal("could not write the NOTES wrapper")
	}
	out := run(t, helmBin(t), append([]string{"template", "consent", dir, "--namespace", "auth", "--show-only", "templates/notes-cm.yaml",
		"--values", requiredValues}, args...)...)
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal([]byte(out), &cm); err != nil {
		t.Fatal(err)
	}
	return cm.Data["notes"]
}
