package webhookserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// testCA is a self-signed CA that issues serving certificates for 127.0.0.1.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA() *testCA {
	GinkgoHelper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	cert, err := x509.ParseCertificate(der)
	Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a serving certificate with the given serial into dir as
// tls.crt and tls.key, each replaced by a rename as a Secret update is.
func (ca *testCA) issue(dir string, serial int64) {
	GinkgoHelper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "receiver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	Expect(err).NotTo(HaveOccurred())
	keyDER, err := x509.MarshalECPrivateKey(key)
	Expect(err).NotTo(HaveOccurred())
	write := func(name string, block *pem.Block) {
		tmp := filepath.Join(dir, "."+name+".tmp")
		Expect(os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600)).To(Succeed())
		Expect(os.Rename(tmp, filepath.Join(dir, name))).To(Succeed())
	}
	write(KeyFile, &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	write(CertFile, &pem.Block{Type: "CERTIFICATE", Bytes: der})
}

var _ = Describe("the receiver over HTTPS (--webhook-cert-dir)", Ordered, func() {
	var (
		ca  *testCA
		dir string
		r   *receiver
		url string
	)

	BeforeAll(func() {
		ca = newTestCA()
		dir = GinkgoT().TempDir()
		ca.issue(dir, 1001)
		r = startReceiver(Options{Token: testToken, CertDir: dir})
		DeferCleanup(r.stop)
		url = "https://" + r.srv.Addr() + r.srv.opts.Path
	})

	// post sends a signed callback over a new TLS connection that trusts
	// only the test CA, and returns the answer and the serial served.
	post := func(cmd string, body []byte) (int, envelope, int64) {
		GinkgoHelper()
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		}}
		resp, err := c.Post(url+"?"+query(cmd).Encode(), "application/json", bytes.NewReader(body))
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		Expect(err).NotTo(HaveOccurred())
		var env envelope
		Expect(json.Unmarshal(b, &env)).To(Succeed(), "%s", b)
		return resp.StatusCode, env, resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}

	It("records callbacks sent over HTTPS with a certificate of the CA", func() {
		ns := newNamespace()
		key := newChatGroup(ns, "tls", "tls-group")
		waitCached("tls-group", 1, r)
		code, env, serial := post(CmdAfterGroupInfoChanged, mustJSON(CmdAfterGroupInfoChanged, map[string]any{
			"GroupId": "tls-group", "Type": "Public", "Name": "over TLS", "EventTime": time.Now().UnixMilli(),
		}))
		Expect(code).To(Equal(http.StatusOK), "%+v", env)
		Expect(serial).To(Equal(int64(1001)))
		Eventually(func() string { return getStatus(key).Name }, 30*time.Second, 50*time.Millisecond).Should(Equal("over TLS"))
	})

	It("refuses plain HTTP on the TLS port", func() {
		resp, err := httpClient.Post("http://"+r.srv.Addr()+r.srv.opts.Path, "application/json", bytes.NewReader([]byte(`{}`)))
		if err == nil {
			defer resp.Body.Close()
			Expect(resp.StatusCode).To(Equal(http.StatusBadRequest), "Go's TLS server answers plain HTTP with 400")
		}
	})

	It("serves a rotated certificate without a restart", func() {
		ca.issue(dir, 1002)
		Eventually(func() int64 {
			_, _, serial := post(CmdAlertRequestOverLimit, []byte(`{"CallbackCommand":"Alert.RequestOverLimit","ServiceName":"openim","Command":"tls","Request":1,"Limit":2}`))
			return serial
		}, 60*time.Second, 200*time.Millisecond).Should(Equal(int64(1002)))
		Expect(r.srv.Addr()).NotTo(BeEmpty(), "the same receiver, never restarted")
	})

	It("refuses to start when the directory holds no certificate", func() {
		_, err := newCertWatcher(GinkgoT().TempDir())
		Expect(err).To(MatchError(ContainSubstring("reading the TLS certificate")))
	})
})
