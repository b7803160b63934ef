package outbound

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Simulator is an in-process stand-in for the three partners, for `walletgate demo --partners` and end-to-end
// tests. It is not a test double of any one test: it keeps state like the real partners would.
//
// Its handler serves BestCash under SimBestCashPath, the virtual account under SimVirtualAccountPath and the
// connector under SimConnectorPath; Configs gives client settings that match (see the Sim* credentials).
//
//   - BestCash knows the customers added with AddCustomer (SimCustomerPhone is there from the start). A debit
//     is pending until confirm-debit brings SimConfirmationCode (any other code: HTTP 400 INVALID_CODE, the
//     debit stays pending) or cancel-debit cancels it. A credit succeeds at once; for an unknown phone it needs
//     firstname and lastname and creates the customer. An operation repeated with its partnerReference is not
//     executed twice.
//   - The virtual account answers "success": true to every well-formed /debit/uni and /credit/uni, "success":
//     false with a message otherwise.
//   - The connector checks the fields like the seed describes (MISSING_FIELDS, INVALID_DATA), answers
//     DUPLICATE_ID to a repeated transactionId and INVALID_REFERENCE to a void or refund of an unknown debit.
//   - FailNext makes a partner answer the next N calls with an HTTP status; SetDown makes it drop every
//     connection without answering until it is up again.
//
// Every request is recorded (credentials masked); Requests returns them. Safe for concurrent use.
type Simulator struct {
	mu        sync.Mutex
	requests  []SimRequest
	customers map[string]Customer
	ops       map[string]*simOp // BestCash operations by partnerReference
	connIDs   map[string]string // connector transactionId → operation
	connTxns  map[string]string // connector transactionId → what it recorded (ConnectorTransactions)
	failNext  map[string]simFail
	down      map[string]bool
	seq       int
}

// The simulator's paths, credentials and fixed values.
const (
	SimBestCashPath       = "/bestcash/external"
	SimVirtualAccountPath = "/virtualaccount"
	SimConnectorPath      = "/connector"

	SimBestCashAPIKey    = "sim-bestcash-key"
	SimBestCashAPISecret = "sim-bestcash-secret"
	SimVAToken           = "sim-va-token"
	SimConnectorAPIKey   = "sim-connector-key"
	SimConnectorUser     = "sim-connector"
	SimConnectorPassword = "sim-connector-password"

	SimConfirmationCode = "123456"         // the code every simulated BestCash customer "receives"
	SimCustomerPhone    = "+2348012345678" // a customer that exists from the start (Ada Obi)
)

// SimRequest is one request the simulator received.
type SimRequest struct {
	Partner string // PartnerBestCash, PartnerVirtualAccount or PartnerConnector
	Method  string
	Path    string // without the partner's prefix; the connector's API key is masked
	Query   string
	Header  http.Header // credentials masked
	Body    []byte
	Time    time.Time
}

type simOp struct {
	ref, kind, id, status, phone string
	amount                       json.Number
}

type simFail struct {
	n, status int
}

// NewSimulator returns a simulator with one customer, SimCustomerPhone.
func NewSimulator() *Simulator {
	s := &Simulator{
		customers: map[string]Customer{},
		ops:       map[string]*simOp{},
		connIDs:   map[string]string{},
		connTxns:  map[string]string{},
		failNext:  map[string]simFail{},
		down:      map[string]bool{},
	}
	s.AddCustomer(SimCustomerPhone, "Ada", "Obi")
	return s
}

// Configs returns client settings for a simulator served at base (an http://host:port without a path).
func (s *Simulator) Configs(base string) (BestCashConfig, VirtualAccountConfig, ConnectorConfig) {
	base = strings.TrimRight(base, "/")
	return BestCashConfig{URL: base + SimBestCashPath, APIKey: SimBestCashAPIKey, APISecret: SimBestCashAPISecret},
		VirtualAccountConfig{URL: base + SimVirtualAccountPath, Token: SimVAToken,
			DebitClassification: "SIM_WALLET_DEBIT", CreditClassification: "SIM_WALLET_CREDIT"},
		ConnectorConfig{URL: base + SimConnectorPath, APIKey: SimConnectorAPIKey, User: SimConnectorUser,
			Password: SimConnectorPassword}
}

// AddCustomer makes a BestCash customer exist.
func (s *Simulator) AddCustomer(phone, firstName, lastName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.customers[phone] = Customer{Phone: phone, FirstName: firstName, LastName: lastName}
}

// FailNext makes partner answer its next n requests with HTTP status (and a JSON error body), whatever they are.
func (s *Simulator) FailNext(partner string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[partner] = simFail{n: n, status: status}
}

// SetDown makes partner drop every connection without an answer (down true) or serve again (false).
func (s *Simulator) SetDown(partner string, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down[partner] = down
}

// ConnectorTransactions returns what the connector recorded, by transactionId: "operation amount currency status"
// and, for a void or refund, the referenceTransactionId. A push answered DUPLICATE_ID records nothing.
func (s *Simulator) ConnectorTransactions() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.connTxns))
	for k, v := range s.connTxns {
		out[k] = v
	}
	return out
}

// Requests returns a copy of every request received so far, oldest first; partner "" means all partners.
func (s *Simulator) Requests(partner string) []SimRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SimRequest
	for _, r := range s.requests {
		if partner == "" || r.Partner == partner {
			r.Header = r.Header.Clone()
			r.Body = append([]byte(nil), r.Body...)
			out = append(out, r)
		}
	}
	return out
}

// BestCashStatus returns the simulated status of a BestCash operation ("" when unknown).
func (s *Simulator) BestCashStatus(partnerReference string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op, ok := s.ops[partnerReference]; ok {
		return op.status
	}
	return ""
}

// Handler serves the three partners.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(SimBestCashPath+"/", s.partner(PartnerBestCash, SimBestCashPath, s.bestCash))
	mux.Handle(SimVirtualAccountPath+"/", s.partner(PartnerVirtualAccount, SimVirtualAccountPath, s.virtualAccount))
	mux.Handle(SimConnectorPath+"/", s.partner(PartnerConnector, SimConnectorPath, s.connector))
	return mux
}

// partner records the request, applies the failure switches, then calls serve with the path below prefix.
func (s *Simulator) partner(name, prefix string, serve func(w http.ResponseWriter, r *http.Request, path string, body []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		path := strings.TrimPrefix(r.URL.Path, prefix)
		h := r.Header.Clone()
		for _, k := range []string{"Authorization", "X-Auth-Apikey", "X-Auth-Apisecret"} {
			if h.Get(k) != "" {
				h.Set(k, "****")
			}
		}
		s.mu.Lock()
		s.requests = append(s.requests, SimRequest{Partner: name, Method: r.Method,
			Path: strings.Replace(path, "/"+SimConnectorAPIKey+"/", "/****/", 1), Query: r.URL.RawQuery,
			Header: h, Body: body, Time: time.Now()})
		down := s.down[name]
		failStatus := 0
		if f := s.failNext[name]; f.n > 0 {
			failStatus = f.status
			if f.n--; f.n == 0 {
				delete(s.failNext, name)
			} else {
				s.failNext[name] = f
			}
		}
		s.mu.Unlock()
		if down {
			dropConnection(w)
			return
		}
		if failStatus != 0 {
			simJSON(w, failStatus, map[string]any{"success": false, "message": "simulated failure"})
			return
		}
		serve(w, r, path, body)
	})
}

// dropConnection closes the connection without an answer.
func dropConnection(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func simJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func eq(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (s *Simulator) bestCash(w http.ResponseWriter, r *http.Request, path string, body []byte) {
	if !eq(r.Header.Get("X-Auth-ApiKey"), SimBestCashAPIKey) || !eq(r.Header.Get("X-Auth-ApiSecret"), SimBestCashAPISecret) {
		simJSON(w, http.StatusUnauthorized, map[string]string{"message": "invalid API credentials"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/customer/"):
		c, ok := s.customers[strings.TrimPrefix(path, "/customer/")]
		if !ok {
			simJSON(w, http.StatusNotFound, map[string]string{"message": "customer not found"})
			return
		}
		simJSON(w, http.StatusOK, map[string]string{"phone": c.Phone, "firstname": c.FirstName, "lastname": c.LastName})
	case r.Method == http.MethodGet && path == "/operation":
		op, ok := s.ops[r.URL.Query().Get("partnerReference")]
		if !ok {
			simJSON(w, http.StatusNotFound, map[string]string{"message": "operation not found"})
			return
		}
		simJSON(w, http.StatusOK, op.view())
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/operations/"):
		var in struct {
			Amount           json.Number `json:"amount"`
			PartnerReference string      `json:"partnerReference"`
			Code             string      `json:"code"`
			Customer         bcCustomer  `json:"customer"`
		}
		if json.Unmarshal(body, &in) != nil || in.PartnerReference == "" {
			simJSON(w, http.StatusBadRequest, map[string]string{"message": "partnerReference is required"})
			return
		}
		s.bestCashOperation(w, strings.TrimPrefix(path, "/operations/"), in.PartnerReference, in.Code, in.Amount, in.Customer)
	default:
		simJSON(w, http.StatusNotFound, map[string]string{"message": "no such endpoint"})
	}
}

// bestCashOperation runs one BestCash operation; s.mu is held.
func (s *Simulator) bestCashOperation(w http.ResponseWriter, kind, ref, code string, amount json.Number, c bcCustomer) {
	op, exists := s.ops[ref]
	switch kind {
	case "debit", "credit":
		if exists { // keyed by partnerReference: never twice
			simJSON(w, http.StatusOK, op.view())
			return
		}
		if amount == "" || !simDecimal.MatchString(amount.String()) || c.Phone == "" {
			simJSON(w, http.StatusBadRequest, map[string]string{"message": "amount and customer.phone are required"})
			return
		}
		if _, ok := s.customers[c.Phone]; !ok {
			if kind == "debit" || c.FirstName == "" || c.LastName == "" {
				simJSON(w, http.StatusNotFound, map[string]string{"message": "customer not found"})
				return
			}
			s.customers[c.Phone] = Customer{Phone: c.Phone, FirstName: c.FirstName, LastName: c.LastName}
		}
		s.seq++
		op = &simOp{ref: ref, kind: kind, id: fmt.Sprintf("BC%06d", s.seq), phone: c.Phone, amount: amount, status: "PENDING"}
		if kind == "credit" {
			op.status = "SUCCESS"
		}
		s.ops[ref] = op
		simJSON(w, http.StatusOK, op.view())
	case "confirm-debit", "cancel-debit":
		if !exists || op.kind != "debit" {
			simJSON(w, http.StatusNotFound, map[string]string{"message": "operation not found"})
			return
		}
		switch {
		case op.status != "PENDING": // final already: say what it is
		case kind == "cancel-debit":
			op.status = "CANCELLED"
		case code != SimConfirmationCode:
			simJSON(w, http.StatusBadRequest, map[string]string{"code": "INVALID_CODE", "message": "invalid confirmation code"})
			return
		default:
			op.status = "SUCCESS"
		}
		simJSON(w, http.StatusOK, op.view())
	default:
		simJSON(w, http.StatusNotFound, map[string]string{"message": "no such endpoint"})
	}
}

func (op *simOp) view() map[string]any {
	return map[string]any{"reference": op.id, "partnerReference": op.ref, "status": op.status,
		"amount": op.amount, "customer": map[string]string{"phone": op.phone}}
}

func (s *Simulator) virtualAccount(w http.ResponseWriter, r *http.Request, path string, body []byte) {
	if !eq(r.Header.Get("Authorization"), "Bearer "+SimVAToken) {
		simJSON(w, http.StatusUnauthorized, map[string]string{"message": "invalid token"})
		return
	}
	kind := map[string]string{"/debit/uni": "DEBIT", "/credit/uni": "CREDIT"}[path]
	if r.Method != http.MethodPost || kind == "" {
		simJSON(w, http.StatusNotFound, map[string]string{"message": "no such endpoint"})
		return
	}
	var in map[string]any
	if json.Unmarshal(body, &in) != nil {
		simJSON(w, http.StatusBadRequest, map[string]any{"success": false, "message": "body is not JSON"})
		return
	}
	for _, k := range []string{"accountID", "classificationCode", "amount", "narration"} {
		if v, ok := in[k]; !ok || v == "" || v == nil {
			simJSON(w, http.StatusOK, map[string]any{"success": false, "message": k + " is required"})
			return
		}
	}
	s.mu.Lock()
	s.seq++
	trace := fmt.Sprintf("sim-trace-%06d", s.seq)
	s.mu.Unlock()
	out := map[string]any{"transactionType": kind, "success": true, "traceID": trace,
		"transactionTime": time.Now().UTC().Format("2006-01-02T15:04:05.000-07:00")}
	for _, k := range []string{"accountID", "classificationCode", "amount", "narration", "transactionReference"} {
		out[k] = in[k]
	}
	simJSON(w, http.StatusOK, out)
}

var (
	simAlpha3  = regexp.MustCompile(`^[A-Z]{3}$`)
	simDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
)

func (s *Simulator) connector(w http.ResponseWriter, r *http.Request, path string, body []byte) {
	user, pass, ok := r.BasicAuth()
	if !ok || !eq(user, SimConnectorUser) || !eq(pass, SimConnectorPassword) {
		simJSON(w, http.StatusUnauthorized, map[string]any{"success": false, "error_message": "unauthorized"})
		return
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if r.Method != http.MethodPost || len(parts) != 2 || !eq(parts[0], SimConnectorAPIKey) ||
		(parts[1] != "debit" && parts[1] != "void" && parts[1] != "refund") {
		simJSON(w, http.StatusNotFound, map[string]any{"success": false, "error_message": "unknown connector or endpoint"})
		return
	}
	op := parts[1]
	var in connRequest
	if json.Unmarshal(body, &in) != nil {
		simJSON(w, http.StatusOK, map[string]any{"success": false, "error_code": connInvalidData, "error_message": "body is not valid JSON"})
		return
	}
	var missing []string
	if in.TransactionID == "" {
		missing = append(missing, "transactionId")
	}
	if in.Amount == "" {
		missing = append(missing, "amount")
	}
	if in.Currency == "" {
		missing = append(missing, "currency")
	}
	if op != "debit" && in.ReferenceTransactionID == "" {
		missing = append(missing, "referenceTransactionId")
	}
	if len(missing) > 0 {
		simJSON(w, http.StatusOK, map[string]any{"success": false, "error_code": connMissingFields,
			"error_message": "The following fields are missing: " + strings.Join(missing, ", ")})
		return
	}
	if !connAmount.MatchString(in.Amount) || !simAlpha3.MatchString(in.Currency) || len(in.TransactionID) > 50 {
		simJSON(w, http.StatusOK, map[string]any{"success": false, "error_code": connInvalidData, "error_message": "invalid amount, currency or transactionId"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.connIDs[in.TransactionID]; dup {
		simJSON(w, http.StatusOK, map[string]any{"success": false, "error_code": connDuplicateID, "error_message": "transactionId already used"})
		return
	}
	if op != "debit" && s.connIDs[in.ReferenceTransactionID] != "debit" {
		simJSON(w, http.StatusOK, map[string]any{"success": false, "error_code": connInvalidReference, "error_message": "referenced transaction not found"})
		return
	}
	s.connIDs[in.TransactionID] = op
	s.connTxns[in.TransactionID] = strings.TrimSpace(op + " " + in.Amount + " " + in.Currency + " " + in.Status + " " +
		in.ReferenceTransactionID)
	s.seq++
	simJSON(w, http.StatusOK, map[string]any{"success": true, "uuid": fmt.Sprintf("sim%017d", s.seq)})
}
