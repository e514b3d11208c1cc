package tim

import (
	"strings"
	"testing"
)

func TestValidateEndpoint(t *testing.T) {
	tests := []struct {
		endpoint string
		want     string // substring of the error; "" = accepted
	}{
		{EndpointChina, ""},
		{EndpointSingapore + "/", ""},
		{"https://10.0.0.7:8443", ""},
		{"http://127.0.0.1:8080", ""},
		{"http://127.9.8.7", ""},
		{"http://[::1]:8080", ""},
		{"http://localhost:8080", ""},
		{"http://LOCALHOST", ""},
		// Plain HTTP anywhere else would carry the admin UserSig in clear text.
		{"http://console.tim.qq.com", "clear text"},
		{"http://10.0.0.7:8080", "clear text"},
		{"http://192.168.1.10", "clear text"},
		{"http://[fe80::1]:80", "clear text"},
		{"http://0.0.0.0:8080", "clear text"},
		{"http://localhost.example.com", "clear text"},
		{"http://127.0.0.1.nip.io", "clear text"},
		{"http://foo.localhost", "clear text"},
		// Not a base URL at all.
		{"", "not an absolute https"},
		{"console.tim.qq.com", "not an absolute https"},
		{"ftp://console.tim.qq.com", "not an absolute https"},
		{"https://", "not an absolute https"},
		{"https:console.tim.qq.com", "not an absolute https"},
		{"https://console.tim.qq.com/?a=b", "query"},
		{"https://console.tim.qq.com/?", "query"},
		{"https://console.tim.qq.com/#x", "fragment"},
		{"https://user:pw@console.tim.qq.com", "user info"},
	}
	for _, tt := range tests {
		err := ValidateEndpoint(tt.endpoint)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.endpoint, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: err %v, want mention of %q", tt.endpoint, err, tt.want)
		}
	}
}

// New applies the same check: no client is made for a plain-HTTP remote.
func TestNewRefusesPlainHTTPToARemoteHost(t *testing.T) {
	_, err := New(Config{Endpoint: "http://adminapisgp.im.qcloud.com", SDKAppID: 1400000000, SecretKey: "k"})
	if err == nil || !strings.Contains(err.Error(), "Config.Endpoint") || !strings.Contains(err.Error(), "clear text") {
		t.Fatalf("err = %v", err)
	}
	if _, err := New(Config{Endpoint: "http://127.0.0.1:1", SDKAppID: 1400000000, SecretKey: "k"}); err != nil {
		t.Fatalf("loopback refused: %v", err)
	}
}
