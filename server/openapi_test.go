package server

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"
)

const openAPIPath = "../docs/openapi.yaml"

// The two listeners, as the document's path-level servers name them.
const (
	openAPISwitchURL = "http://localhost:8080"
	openAPIOpsURL    = "http://127.0.0.1:9090"
)

var openAPIMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true,
	"head": true, "patch": true, "trace": true}

// openAPIDoc is the part of an OpenAPI 3 document the route test reads; the raw tree is kept for $ref checks.
type openAPIDoc struct {
	OpenAPI string `yaml:"openapi"`
	Paths   map[string]struct {
		Servers    []struct{ URL string } `yaml:"servers"`
		Parameters []yaml.Node            `yaml:"parameters"`
		Operations map[string]yaml.Node   `yaml:",inline"`
	} `yaml:"paths"`
}

func loadOpenAPI(t *testing.T) (openAPIDoc, *yaml.Node) {
	t.Helper()
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", openAPIPath, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi: %q, want 3.x", doc.OpenAPI)
	}
	return doc, &root
}

var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// openAPIRoute turns Echo's "METHOD /a/:id" into the document's "METHOD /a/{id}"; a trailing "*" (Echo's
// catch-all) becomes "{path}".
func openAPIRoute(route string) string {
	route = echoParam.ReplaceAllString(route, "{$1}")
	if strings.HasSuffix(route, "/*") {
		route = strings.TrimSuffix(route, "*") + "{path}"
	}
	return route
}

// routeSet is the server's routes per listener, in the document's spelling, without Echo's internal catch-alls.
func routeSet(routes []string) map[string]bool {
	set := map[string]bool{}
	for _, r := range routes {
		if strings.HasPrefix(r, echo.RouteNotFound+" ") {
			continue // registered by Echo for group middleware, not a route of ours
		}
		set[openAPIRoute(r)] = true
	}
	return set
}

// TestOpenAPIMatchesRoutes fails when a route exists in either router but not in docs/openapi.yaml, or the other way
// round, or when the document puts a path on the wrong listener.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t) // with an admin token: every admin route is registered
	switchRoutes, opsRoutes := h.srv.Routes()
	want := map[string]map[string]bool{openAPISwitchURL: routeSet(switchRoutes), openAPIOpsURL: routeSet(opsRoutes)}
	if len(want[openAPISwitchURL]) == 0 || len(want[openAPIOpsURL]) == 0 {
		t.Fatalf("the routers list no routes: %v %v", switchRoutes, opsRoutes)
	}

	doc, _ := loadOpenAPI(t)
	got := map[string]map[string]bool{openAPISwitchURL: {}, openAPIOpsURL: {}}
	for path, item := range doc.Paths {
		if len(item.Servers) != 1 || got[item.Servers[0].URL] == nil {
			t.Errorf("%s: want one path-level server, %s or %s, got %+v", path, openAPISwitchURL, openAPIOpsURL, item.Servers)
			continue
		}
		for method := range item.Operations {
			if !openAPIMethods[method] {
				continue // summary, description, x-...
			}
			got[item.Servers[0].URL][strings.ToUpper(method)+" "+path] = true
		}
	}
	for _, listener := range []string{openAPISwitchURL, openAPIOpsURL} {
		var missing, extra []string
		for r := range want[listener] {
			if !got[listener][r] {
				missing = append(missing, r)
			}
		}
		for r := range got[listener] {
			if !want[listener][r] {
				extra = append(extra, r)
			}
		}
		sort.Strings(missing)
		sort.Strings(extra)
		for _, r := range missing {
			t.Errorf("%s: route %s is served but not in %s", listener, r, openAPIPath)
		}
		for _, r := range extra {
			t.Errorf("%s: %s documents %s, which the server does not route", listener, openAPIPath, r)
		}
	}
}

func TestOpenAPIRouteMapping(t *testing.T) {
	for in, want := range map[string]string{
		"GET /admin/wallets/:id":               "GET /admin/wallets/{id}",
		"POST /admin/topups/:reference/cancel": "POST /admin/topups/{reference}/cancel",
		"GET /debug/pprof/*":                   "GET /debug/pprof/{path}",
		"POST /debit":                          "POST /debit",
	} {
		if got := openAPIRoute(in); got != want {
			t.Errorf("openAPIRoute(%q) = %q, want %q", in, got, want)
		}
	}
	set := routeSet([]string{echo.RouteNotFound + " /admin/*", "GET /healthz"})
	if len(set) != 1 || !set["GET /healthz"] {
		t.Errorf("routeSet kept Echo's catch-all: %v", set)
	}
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// TestOpenAPIWellFormed checks what a generator or a viewer would trip over: unresolved $refs, path parameters
// that are not declared, duplicate operationIds, operations without responses, admin operations without the token.
func TestOpenAPIWellFormed(t *testing.T) {
	doc, root := loadOpenAPI(t)
	top := root.Content[0]

	// Every local $ref resolves.
	var walk func(n *yaml.Node)
	refs := 0
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "$ref" {
					refs++
					if resolve(top, n.Content[i+1].Value) == nil {
						t.Errorf("line %d: $ref %q does not resolve", n.Content[i+1].Line, n.Content[i+1].Value)
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(top)
	if refs == 0 {
		t.Fatal("no $ref found: the walk is broken")
	}

	ids := map[string]string{}
	for path, item := range doc.Paths {
		declared := map[string]bool{}
		addParams := func(params []yaml.Node) {
			for i := range params {
				p := &params[i]
				if ref := mapValue(p, "$ref"); ref != nil {
					p = resolve(top, ref.Value)
				}
				if p != nil && value(p, "in") == "path" {
					declared[value(p, "name")] = true
				}
			}
		}
		addParams(item.Parameters)
		for method, op := range item.Operations {
			if !openAPIMethods[method] {
				continue
			}
			name := strings.ToUpper(method) + " " + path
			if params := mapValue(&op, "parameters"); params != nil {
				list := make([]yaml.Node, len(params.Content))
				for i, c := range params.Content {
					list[i] = *c
				}
				addParams(list)
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter %q is not declared", name, m[1])
				}
			}
			id := value(&op, "operationId")
			if id == "" {
				t.Errorf("%s: no operationId", name)
			} else if other, dup := ids[id]; dup {
				t.Errorf("%s: operationId %q is also used by %s", name, id, other)
			}
			ids[id] = name
			if r := mapValue(&op, "responses"); r == nil || len(r.Content) == 0 {
				t.Errorf("%s: no responses", name)
			}
			sec := mapValue(&op, "security")
			if strings.HasPrefix(path, "/admin/") {
				if sec == nil || !strings.Contains(nodeText(sec), "adminToken") {
					t.Errorf("%s: an admin operation must require the adminToken scheme", name)
				}
				if r := mapValue(&op, "responses"); r != nil && mapValue(r, "401") == nil {
					t.Errorf("%s: an admin operation must document 401", name)
				}
			}
		}
	}
}

// resolve follows a local reference "#/a/b/c" from the document's root mapping.
func resolve(top *yaml.Node, ref string) *yaml.Node {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	n := top
	for _, key := range strings.Split(rest, "/") {
		key = strings.ReplaceAll(strings.ReplaceAll(key, "~1", "/"), "~0", "~")
		if n = mapValue(n, key); n == nil {
			return nil
		}
	}
	return n
}

// mapValue is the value of key in a mapping node (following an alias), or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			for v.Kind == yaml.AliasNode {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

func value(n *yaml.Node, key string) string {
	if v := mapValue(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

func nodeText(n *yaml.Node) string {
	out, _ := yaml.Marshal(n)
	return string(out)
}
