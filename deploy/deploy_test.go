package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gopkg.in/yaml.v3"

	"github.com/walletgate/walletgate/respcodes"
	"github.com/walletgate/walletgate/server"
)

const (
	dashboardPath  = "grafana/walletgate.json"
	alertsPath     = "prometheus/alerts.yml"
	alertTestsPath = "prometheus/alerts_test.yml"
)

// metricInfo is one exposed metric family: its labels, and the suffixes under which Prometheus stores it.
type metricInfo struct {
	labels map[string]bool
	kind   string // "histogram", "summary" or "" (counter, gauge, untyped)
}

// capture is a prometheus.Registerer that keeps what is registered, so the test sees exactly the collectors a
// constructor registers.
type capture struct{ collectors []prometheus.Collector }

func (c *capture) Register(col prometheus.Collector) error {
	c.collectors = append(c.collectors, col)
	return nil
}
func (c *capture) MustRegister(cols ...prometheus.Collector) {
	c.collectors = append(c.collectors, cols...)
}
func (c *capture) Unregister(prometheus.Collector) bool { return false }

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	descConst  = regexp.MustCompile(`constLabels: \{([^}]*)\}`)
)

// describe adds the families col describes to set. kind is what the collector's type says of all of them ("" when
// the type does not tell; gather fills it in).
func describe(t *testing.T, set map[string]*metricInfo, col prometheus.Collector, kind string) {
	t.Helper()
	ch := make(chan *prometheus.Desc, 512)
	go func() { col.Describe(ch); close(ch) }()
	for d := range ch {
		s := d.String()
		m := descName.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("cannot read the name of %s", s)
		}
		info := &metricInfo{labels: map[string]bool{}, kind: kind}
		for _, re := range []*regexp.Regexp{descLabels, descConst} {
			if l := re.FindStringSubmatch(s); l != nil && l[1] != "" {
				for _, name := range strings.Split(l[1], ",") {
					name, _, _ = strings.Cut(name, "=")
					name = strings.TrimSuffix(strings.TrimPrefix(name, "c("), ")")
					info.labels[name] = true
				}
			}
		}
		set[m[1]] = info
	}
}

func kindOf(col prometheus.Collector) string {
	switch col.(type) {
	case *prometheus.HistogramVec, prometheus.Histogram:
		return "histogram"
	case *prometheus.SummaryVec, prometheus.Summary:
		return "summary"
	}
	return ""
}

// exposed is every metric family walletgate serves on /metrics, built from the collectors' Describe: the server's
// metrics, the partner and outbox metrics, and the Go and process collectors that cmd/walletgate registers.
func exposed(t *testing.T) map[string]*metricInfo {
	t.Helper()
	set := map[string]*metricInfo{}
	var c capture
	server.NewMetrics(&c)
	for _, col := range c.collectors {
		describe(t, set, col, kindOf(col))
	}
	for _, col := range partnerCollectors() {
		describe(t, set, col, kindOf(col))
	}
	// The runtime collectors: their types come from a gather, as their Go types say nothing.
	reg := prometheus.NewRegistry()
	rt := []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	for _, col := range rt {
		describe(t, set, col, "")
		reg.MustRegister(col)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if info := set[mf.GetName()]; info != nil {
			info.kind = strings.ToLower(mf.GetType().String())
		}
	}
	// Prometheus itself adds these to every scrape.
	set["up"] = &metricInfo{labels: map[string]bool{}}
	return set
}

// Labels every series carries once scraped (target labels).
var targetLabels = map[string]bool{"job": true, "instance": true}

// Known values of the labels the server fills from fixed sets.
func knownValues() map[string]map[string]bool {
	routes := map[string]bool{}
	for _, r := range []server.Route{server.RouteDebit, server.RouteReversal, server.RouteEnquiry, server.RouteLienPlace,
		server.RouteLienDebit} {
		routes[string(r)] = true
	}
	codes := map[string]bool{}
	for _, c := range respcodes.All() {
		codes[string(c)] = true
	}
	return map[string]map[string]bool{"route": routes, "code": codes, "partner": partnerNames(), "outcome": outcomeNames()}
}

// usage is what one PromQL expression refers to.
type usage struct {
	metrics  map[string][]matcher // metric name as written -> its matchers (one entry per selector)
	grouping []string             // labels of by / without / on / ignoring / group_left / group_right
}

type matcher struct{ label, op, value string }

var (
	reString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	reVar      = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*`)
	reGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	reSelector = regexp.MustCompile(`([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^}]*)\}`)
	reMatcher  = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*$`)
	reRange    = regexp.MustCompile(`\[[^\]]*\]`)
	reToken    = regexp.MustCompile(`[A-Za-z0-9_:.]+`)
)

// promqlWords are the keywords and aggregation modifiers that look like identifiers.
var promqlWords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
	"group_right": true, "bool": true, "offset": true, "and": true, "or": true, "unless": true, "atan2": true,
	"inf": true, "nan": true, "Inf": true, "NaN": true}

// parseExpr finds the metric names, matchers and grouping labels of a PromQL expression. It is a scanner for the
// forms dashboards and rules use, not a full parser; promtool, when installed, checks the syntax itself.
func parseExpr(expr string) (usage, error) {
	u := usage{metrics: map[string][]matcher{}}
	if strings.Count(expr, "(") != strings.Count(expr, ")") || strings.Count(expr, "{") != strings.Count(expr, "}") {
		return u, fmt.Errorf("unbalanced brackets")
	}
	rest := reSelector.ReplaceAllStringFunc(expr, func(sel string) string {
		m := reSelector.FindStringSubmatch(sel)
		name := m[1]
		var ms []matcher
		for _, part := range splitMatchers(m[2]) {
			mm := reMatcher.FindStringSubmatch(part)
			if mm == nil {
				u.metrics["!malformed matcher "+part] = nil
				continue
			}
			ms = append(ms, matcher{label: mm[1], op: mm[2], value: strings.Trim(mm[3], `"`)})
		}
		if name == "" {
			for _, x := range ms {
				if x.label == "__name__" {
					name = x.value
				}
			}
		}
		u.metrics[name] = append(u.metrics[name], ms...)
		if _, ok := u.metrics[name]; !ok || len(ms) == 0 {
			u.metrics[name] = append(u.metrics[name], matcher{})
		}
		return " _selector_ "
	})
	rest = reString.ReplaceAllString(rest, `""`)
	rest = reVar.ReplaceAllString(rest, "1")
	rest = reRange.ReplaceAllString(rest, "")
	for _, g := range reGrouping.FindAllStringSubmatch(rest, -1) {
		for _, l := range strings.Split(g[2], ",") {
			if l = strings.TrimSpace(l); l != "" {
				u.grouping = append(u.grouping, l)
			}
		}
	}
	rest = reGrouping.ReplaceAllString(rest, " ")
	for _, loc := range reToken.FindAllStringIndex(rest, -1) {
		tok := rest[loc[0]:loc[1]]
		if tok == "_selector_" || promqlWords[tok] || (tok[0] >= '0' && tok[0] <= '9') || tok[0] == '.' {
			continue
		}
		if next := strings.TrimLeft(rest[loc[1]:], " \t\n"); strings.HasPrefix(next, "(") {
			continue // a function or an aggregation
		}
		if _, ok := u.metrics[tok]; !ok {
			u.metrics[tok] = []matcher{{}}
		}
	}
	return u, nil
}

// splitMatchers splits a selector's body on the commas outside quotes.
func splitMatchers(body string) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				parts = append(parts, body[start:i])
				start = i + 1
			}
		}
	}
	if strings.TrimSpace(body[start:]) != "" {
		parts = append(parts, body[start:])
	}
	return parts
}

// family resolves a series name as queried to its exposed family and the labels it may carry.
func family(set map[string]*metricInfo, name string) (string, map[string]bool, bool) {
	allowed := func(info *metricInfo, extra ...string) map[string]bool {
		m := map[string]bool{}
		for l := range info.labels {
			m[l] = true
		}
		for l := range targetLabels {
			m[l] = true
		}
		for _, l := range extra {
			m[l] = true
		}
		return m
	}
	if info, ok := set[name]; ok {
		if info.kind == "summary" {
			return name, allowed(info, "quantile"), true
		}
		return name, allowed(info), info.kind != "histogram"
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		info := set[base]
		switch {
		case info == nil:
		case info.kind == "histogram" && suffix == "_bucket":
			return base, allowed(info, "le"), true
		case info.kind == "histogram" || (info.kind == "summary" && suffix != "_bucket"):
			return base, allowed(info), true
		}
	}
	return "", nil, false
}

// reporter is where checkExpr reports: a *testing.T, or a recorder in the scanner's own tests.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// checkExpr reports every metric, label or label value of expr that walletgate does not expose; it returns the
// families used.
func checkExpr(t reporter, where, expr string, set map[string]*metricInfo) []string {
	t.Helper()
	u, err := parseExpr(expr)
	if err != nil {
		t.Errorf("%s: %v: %s", where, err, expr)
		return nil
	}
	if len(u.metrics) == 0 {
		t.Errorf("%s: no metric found in %s", where, expr)
	}
	values := knownValues()
	var used []string
	groupOK := map[string]bool{}
	for name, ms := range u.metrics {
		if strings.HasPrefix(name, "!") {
			t.Errorf("%s: %s in %s", where, name[1:], expr)
			continue
		}
		base, labels, ok := family(set, name)
		if !ok {
			t.Errorf("%s: metric %q is not exposed by walletgate (expr %s)", where, name, expr)
			continue
		}
		used = append(used, base)
		for l := range labels {
			groupOK[l] = true
		}
		for _, m := range ms {
			if m.label == "" || m.label == "__name__" {
				continue
			}
			if !labels[m.label] {
				t.Errorf("%s: %s has no label %q (expr %s)", where, name, m.label, expr)
			}
			if known := values[m.label]; known != nil && (m.op == "=" || m.op == "!=") && !known[m.value] {
				t.Errorf("%s: %s=%q is never exposed; known values %v (expr %s)", where, m.label, m.value, keys(known), expr)
			}
			if known := values[m.label]; known != nil && (m.op == "=~" || m.op == "!~") {
				for _, alt := range strings.Split(m.value, "|") {
					if regexp.QuoteMeta(alt) == alt && !known[alt] {
						t.Errorf("%s: %s=~ alternative %q is never exposed (expr %s)", where, m.label, alt, expr)
					}
				}
			}
		}
	}
	for _, l := range u.grouping {
		if !groupOK[l] {
			t.Errorf("%s: grouping label %q belongs to none of the metrics of %s", where, l, expr)
		}
	}
	return used
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// contractMetrics are the names of CONTRACT section 4; the dashboard must show each of them.
var contractMetrics = []string{
	"walletgate_requests_total", "walletgate_request_duration_seconds", "walletgate_mac_failures_total",
	"walletgate_idempotent_replays_total", "walletgate_ledger_commit_duration_seconds", "walletgate_ledger_batch_size",
	"walletgate_outbox_pending", "walletgate_outbox_deliveries_total", "walletgate_partner_request_duration_seconds",
}

type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// dashboardExprs is every query of the dashboard, by panel title.
func dashboardExprs(d dashboard) map[string][]string {
	out := map[string][]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out[p.Title] = append(out[p.Title], tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func TestDashboardUsesExposedMetrics(t *testing.T) {
	set := exposed(t)
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q: both are needed for a stable import", d.UID, d.Title)
	}
	vars := map[string]bool{"__rate_interval": true, "__interval": true, "__range": true, "__all": true}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	shown := map[string]bool{}
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if other, dup := ids[p.ID]; dup {
				t.Errorf("panel %q: id %d is also %q", p.Title, p.ID, other)
			}
			ids[p.ID] = p.Title
			if p.GridPos.W < 1 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: gridPos %+v outside the 24 columns", p.Title, p.GridPos)
			}
			if p.Type != "row" {
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: datasource must be the ${datasource} variable, so the import works anywhere", p.Title)
				}
			}
			for _, tg := range p.Targets {
				for _, v := range reVar.FindAllString(tg.Expr, -1) {
					if name := strings.Trim(v, "${}"); !vars[name] {
						t.Errorf("panel %q uses undefined variable %s", p.Title, v)
					}
				}
				for _, f := range checkExpr(t, "panel "+p.Title, tg.Expr, set) {
					shown[f] = true
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, m := range contractMetrics {
		if !shown[m] {
			t.Errorf("no dashboard panel shows %s (CONTRACT section 4)", m)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func TestAlertRules(t *testing.T) {
	set := exposed(t)
	raw, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true) // a misspelt key ("annotation") is a rule Prometheus would refuse
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", alertsPath, err)
	}
	names := map[string]bool{}
	for _, g := range rf.Groups {
		if len(g.Rules) == 0 {
			t.Errorf("group %s has no rules", g.Name)
		}
		for _, r := range g.Rules {
			where := "alert " + r.Alert
			if r.Alert == "" {
				t.Errorf("group %s: a rule without an alert name (recording rules belong elsewhere)", g.Name)
				continue
			}
			if names[r.Alert] {
				t.Errorf("%s: defined twice", where)
			}
			names[r.Alert] = true
			if r.For != "" {
				if _, err := time.ParseDuration(strings.Replace(r.For, "d", "h", 1)); err != nil {
					t.Errorf("%s: for %q: %v", where, r.For, err)
				}
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", where, s)
			}
			if r.Annotations["summary"] == "" || len(r.Annotations["description"]) < 40 {
				t.Errorf("%s: needs a summary and a description that tells on-call what it means", where)
			}
			if !strings.Contains(r.Expr, `job="walletgate"`) {
				t.Errorf("%s: select the walletgate scrape job, or another job's metrics could fire it", where)
			}
			checkExpr(t, where, r.Expr, set)
		}
	}
	for _, want := range []string{"WalletgateDown", "WalletgateApprovalRatioDrop", "WalletgateMACFailureSpike",
		"WalletgateSlowAnswers", "WalletgateSystemMalfunction", "WalletgateOutboxBacklog", "WalletgateOutboxDeadLetters"} {
		if !names[want] {
			t.Errorf("no %s rule", want)
		}
	}
}

// TestParseExpr keeps the scanner honest: it must find what an expression really uses.
func TestParseExpr(t *testing.T) {
	u, err := parseExpr(`histogram_quantile(0.99, sum by (le, route) (rate(walletgate_request_duration_seconds_bucket{job=~"$job",route="debit"}[$__rate_interval]))) > 2 and on (route) up offset 1d`)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(map[string]bool{"walletgate_request_duration_seconds_bucket": true, "up": true}); fmt.Sprint(keys(mapKeys(u.metrics))) != fmt.Sprint(got) {
		t.Errorf("metrics %v, want %v", keys(mapKeys(u.metrics)), got)
	}
	if fmt.Sprint(u.grouping) != "[le route route]" {
		t.Errorf("grouping %v", u.grouping)
	}
	ms := u.metrics["walletgate_request_duration_seconds_bucket"]
	if len(ms) != 2 || ms[1] != (matcher{"route", "=", "debit"}) {
		t.Errorf("matchers %+v", ms)
	}
	if _, err := parseExpr(`sum(rate(x[5m])`); err == nil {
		t.Error("unbalanced expression accepted")
	}

	set := exposed(t)
	for _, bad := range []string{
		`rate(walletgate_request_total[5m])`,                           // misspelt
		`sum by (wallet) (rate(walletgate_requests_total[5m]))`,        // not a label
		`rate(walletgate_requests_total{route="/debit"}[5m])`,          // not a route value
		`rate(walletgate_requests_total{code="05"}[5m])`,               // not a code walletgate answers
		`rate(walletgate_requests_total_bucket[5m])`,                   // a counter has no buckets
		`walletgate_ledger_batch_size{le="1"}`,                         // le only on _bucket
		`rate(walletgate_outbox_deliveries_total{outcome="lost"}[5m])`, // not an outcome
	} {
		if errs := exprProblems(bad, set); len(errs) == 0 {
			t.Errorf("%s was accepted", bad)
		}
	}
	if errs := exprProblems(`sum by (le) (rate(walletgate_ledger_batch_size_bucket{job="walletgate"}[5m]))`, set); len(errs) != 0 {
		t.Errorf("a valid expression was refused: %v", errs)
	}
}

func mapKeys[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// exprProblems runs checkExpr on a recorder and returns what it would report.
func exprProblems(expr string, set map[string]*metricInfo) []string {
	var rec recorder
	checkExpr(&rec, "test", expr, set)
	return rec.errs
}

// TestPromtool runs promtool on the rules, their unit tests and the dashboard's queries when it is installed (CI
// installs it); without it the checks above are what stands.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool is not on PATH: rule syntax is checked by the structural tests only (apt-get install prometheus)")
		return
	}
	run := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("check", "rules", alertsPath)
	run("test", "rules", alertTestsPath)

	// The dashboard's queries, with Grafana's variables filled in, as recording rules: promtool parses each.
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	exprs := dashboardExprs(loadDashboard(t))
	titles := keys(mapKeys(exprs))
	n := 0
	for _, title := range titles {
		for _, e := range exprs[title] {
			e = strings.NewReplacer("$__rate_interval", "5m", "$job", "walletgate", "$instance", ".*").Replace(e)
			q, _ := json.Marshal(e) // a JSON string is a YAML string
			n++
			fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n", n, q)
		}
	}
	path := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run("check", "rules", path)
}
