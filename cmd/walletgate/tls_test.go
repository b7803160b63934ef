package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/walletgate/walletgate/mac"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf certificate: a server one for 127.0.0.1, or a client one.
func (ca *testCA) issue(t *testing.T, name string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// tlsClient trusts roots and presents cert (nil: none).
func tlsClient(t *testing.T, roots *x509.CertPool, cert *tls.Certificate) *http.Client {
	t.Helper()
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		// Present it whatever CAs the server names, as a misconfigured or hostile client would.
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tr := &http.Transport{Proxy: nil, TLSClientConfig: tc}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestServeTLS runs serve with WALLETGATE_TLS_CERT/_KEY, and then also WALLETGATE_TLS_CLIENT_CA, with certificates
// made by the test. Over TLS the switch gets its signed answer; a clear-text request to the TLS listener is refused
// before any handler runs. With a client CA, clients without a certificate, or with one from another CA, are refused
// in the handshake and move no money; a client certificate from that CA is served. The ops listener stays plain HTTP
// on its loopback address.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	ca, otherCA := newTestCA(t, "walletgate test CA"), newTestCA(t, "someone else's CA")
	srvCert, srvKey := ca.issue(t, "walletgate", true)
	cliCert, cliKey := ca.issue(t, "card switch", false)
	strangerCert, strangerKey := otherCA.issue(t, "card switch", false)
	writeFiles(t, dir, map[string][]byte{"ca.pem": ca.pem, "server.pem": srvCert, "server.key": srvKey})
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	client, err := tls.X509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := tls.X509KeyPair(strangerCert, strangerKey)
	if err != nil {
		t.Fatal(err)
	}

	keys := mustKeys(t, mac.SHA512, inProcKey, "")
	seed := readSeed(t)
	const walletID, funding = "9100000001", 100_000
	seed["walletId"] = walletID
	db := filepath.Join(dir, "walletgate.db")
	base := map[string]string{"WALLETGATE_MAC_KEY": inProcKey, "WALLETGATE_ADMIN_TOKEN": inProcToken, "WALLETGATE_DB": db,
		"WALLETGATE_TLS_CERT": filepath.Join(dir, "server.pem"), "WALLETGATE_TLS_KEY": filepath.Join(dir, "server.key")}
	args := []string{"--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"}
	plain := newHTTPClient(t)
	charged := int64(0)

	t.Run("TLS", func(t *testing.T) {
		s := startServe(t, base, args...)
		if s.start["tls"] != true || s.start["mutualTLS"] != false {
			t.Errorf("start line tls=%v mutualTLS=%v", s.start["tls"], s.start["mutualTLS"])
		}
		fundWallet(t, plain, s.opsAddr, inProcToken, walletID, funding) // ops stays plain HTTP
		body := debitBody(seed, keys, mac.Current, "tls-1", "TLS0000001", 100)
		status, ans := call(t, tlsClient(t, roots, nil), http.MethodPost, "https://"+s.switchAddr+"/debit", "", body)
		if status != http.StatusOK {
			t.Fatalf("HTTPS debit: HTTP %d %s", status, ans)
		}
		checkAnswer(t, ans, keys, mac.Current, "00", "tls-1", "TLS0000001", 100)
		charged += 100

		// Clear text to the TLS port: Go's TLS server answers 400 itself; no handler sees the message.
		clearText := debitBody(seed, keys, mac.Current, "tls-2", "TLS0000002", 100)
		status, out, err := tryCall(t.Context(), plain, http.MethodPost, "http://"+s.switchAddr+"/debit", "", clearText)
		if err == nil && (status == http.StatusOK || bytes.Contains(out, []byte("responseCode"))) {
			t.Errorf("clear-text debit on the TLS listener: HTTP %d %s", status, out)
		}
		// A client that does not trust walletgate's CA does not talk to it.
		if _, _, err := tryCall(t.Context(), tlsClient(t, x509.NewCertPool(), nil), http.MethodPost,
			"https://"+s.switchAddr+"/debit", "", clearText); err == nil {
			t.Errorf("a client without walletgate's CA completed a request")
		}
		if got := balance(t, plain, s.opsAddr, inProcToken, walletID); got != funding-charged {
			t.Errorf("balance %d, want %d", got, funding-charged)
		}
		plain.CloseIdleConnections()
		s.stop(t)
	})

	t.Run("mutual TLS", func(t *testing.T) {
		env := map[string]string{"WALLETGATE_TLS_CLIENT_CA": filepath.Join(dir, "ca.pem")}
		for k, v := range base {
			env[k] = v
		}
		s := startServe(t, env, args...)
		if s.start["tls"] != true || s.start["mutualTLS"] != true {
			t.Errorf("start line tls=%v mutualTLS=%v", s.start["tls"], s.start["mutualTLS"])
		}
		refused := []struct {
			name string
			cert *tls.Certificate
		}{{"no client certificate", nil}, {"certificate from another CA", &stranger}}
		for i, r := range refused {
			body := debitBody(seed, keys, mac.Current, "mtls-r"+string(rune('0'+i)), "MTLSR000"+string(rune('0'+i)), 100)
			status, out, err := tryCall(t.Context(), tlsClient(t, roots, r.cert), http.MethodPost, "https://"+s.switchAddr+"/debit", "", body)
			if err == nil {
				t.Errorf("%s: HTTP %d %s, want the handshake refused", r.name, status, out)
			} else {
				t.Logf("%s: %v", r.name, err)
			}
		}
		body := debitBody(seed, keys, mac.Current, "mtls-1", "MTLS000001", 250)
		status, ans := call(t, tlsClient(t, roots, &client), http.MethodPost, "https://"+s.switchAddr+"/debit", "", body)
		if status != http.StatusOK {
			t.Fatalf("debit with the switch's certificate: HTTP %d %s", status, ans)
		}
		checkAnswer(t, ans, keys, mac.Current, "00", "mtls-1", "MTLS000001", 250)
		charged += 250
		if got := balance(t, plain, s.opsAddr, inProcToken, walletID); got != funding-charged {
			t.Errorf("balance %d, want %d: a refused client moved money", got, funding-charged)
		}
		checkAudit(t, plain, s.opsAddr, inProcToken)
		plain.CloseIdleConnections()
		s.stop(t)
	})
}

// TestServeMACKeyRotation rotates the MAC key across restarts of serve on one ledger: key A alone; then B with A as
// the previous key (old answers replay byte for byte, messages signed with A are still served and answered under A,
// messages under B answered under B); then B alone (a message signed with A is 12 and moves nothing).
func TestServeMACKeyRotation(t *testing.T) {
	const keyA, keyB = "rotation-A-4f1c9e2d", "rotation-B-8b3a7d60"
	db := filepath.Join(t.TempDir(), "walletgate.db")
	args := []string{"--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"}
	env := func(current, previous string) map[string]string {
		return map[string]string{"WALLETGATE_MAC_KEY": current, "WALLETGATE_MAC_KEY_PREVIOUS": previous,
			"WALLETGATE_ADMIN_TOKEN": inProcToken, "WALLETGATE_DB": db}
	}
	onlyA, onlyB := mustKeys(t, mac.SHA512, keyA, ""), mustKeys(t, mac.SHA512, keyB, "")
	seed := readSeed(t)
	hc := newHTTPClient(t)
	const walletID, funding = "9200000001", 10_000
	seed["walletId"] = walletID
	post := func(addr string, body []byte) []byte {
		t.Helper()
		status, out := call(t, hc, http.MethodPost, "http://"+addr+"/debit", "", body)
		if status != http.StatusOK {
			t.Fatalf("POST /debit: HTTP %d %s", status, out)
		}
		return out
	}

	// 1. Key A.
	s := startServe(t, env(keyA, ""), args...)
	fundWallet(t, hc, s.opsAddr, inProcToken, walletID, funding)
	oldDebit := debitBody(seed, onlyA, mac.Current, "rot-1", "ROT0000001", 100)
	oldAnswer := post(s.switchAddr, oldDebit)
	checkAnswer(t, oldAnswer, onlyA, mac.Current, "00", "rot-1", "ROT0000001", 100)
	hc.CloseIdleConnections()
	s.stop(t)

	// 2. B current, A previous.
	s = startServe(t, env(keyB, keyA), args...)
	if got := post(s.switchAddr, oldDebit); !bytes.Equal(got, oldAnswer) {
		t.Errorf("replay during the rotation:\n got %s\nwant %s", got, oldAnswer)
	}
	checkAnswer(t, post(s.switchAddr, debitBody(seed, onlyA, mac.Current, "rot-2", "ROT0000002", 200)), onlyA, mac.Current,
		"00", "rot-2", "ROT0000002", 200)
	checkAnswer(t, post(s.switchAddr, debitBody(seed, onlyB, mac.Current, "rot-3", "ROT0000003", 300)), onlyB, mac.Current,
		"00", "rot-3", "ROT0000003", 300)
	hc.CloseIdleConnections()
	s.stop(t)

	// 3. B alone: A is no longer accepted.
	s = startServe(t, env(keyB, ""), args...)
	checkAnswer(t, post(s.switchAddr, debitBody(seed, onlyA, mac.Current, "rot-4", "ROT0000004", 400)), onlyB, mac.Current,
		"12", "rot-4", "ROT0000004", 400)
	checkAnswer(t, post(s.switchAddr, debitBody(seed, onlyB, mac.Current, "rot-5", "ROT0000005", 500)), onlyB, mac.Current,
		"00", "rot-5", "ROT0000005", 500)
	if got, want := balance(t, hc, s.opsAddr, inProcToken, walletID), int64(funding-100-200-300-500); got != want {
		t.Errorf("balance %d, want %d", got, want)
	}
	checkAudit(t, hc, s.opsAddr, inProcToken)
	hc.CloseIdleConnections()
	s.stop(t)
	for _, secret := range []string{keyA, keyB} {
		if bytes.Contains([]byte(s.stderr.String()), []byte(secret)) {
			t.Errorf("a MAC key appears on stderr")
		}
	}
}
