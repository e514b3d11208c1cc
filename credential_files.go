package main

import (
	"bytes"
	"context"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// credentialPoll is how often the default app's token and key files are
// read again. A mounted Secret is updated in place by the kubelet (an
// atomic symlink swap, about a minute after the Secret changes), which
// file-event watchers miss unless they follow the link; reading two small
// files every few seconds cannot miss it.
const credentialPoll = 5 * time.Second

// keyRotator is the REST client's in-place key rotation (*tim.Client).
type keyRotator interface{ SetSecretKey(key string) error }

// credentialFiles re-reads --callback-token-file and --secret-key-file, so
// a rotated Secret takes effect without a restart: the next callback is
// checked against the new token, the next REST call signs with the new key.
type credentialFiles struct {
	reg                *apps.Registry
	tokenFile, keyFile string
	client             keyRotator // nil: no REST client to rotate
	lastToken, lastKey []byte
	log                func(msg string, kv ...any)
}

func watchCredentialFiles(reg *apps.Registry, tokenFile, keyFile string, client any) *credentialFiles {
	kr, _ := client.(keyRotator)
	c := &credentialFiles{reg: reg, tokenFile: tokenFile, keyFile: keyFile, client: kr,
		log: ctrl.Log.WithName("credentials").Info}
	c.lastToken, _ = os.ReadFile(tokenFile)
	c.lastKey, _ = os.ReadFile(keyFile)
	return c
}

// NeedLeaderElection is false: every replica's receiver checks tokens.
func (c *credentialFiles) NeedLeaderElection() bool { return false }

var _ manager.LeaderElectionRunnable = (*credentialFiles)(nil)

// Start polls until ctx ends.
func (c *credentialFiles) Start(ctx context.Context) error {
	wait.UntilWithContext(ctx, func(context.Context) { c.reload() }, credentialPoll)
	return nil
}

// reload applies what changed on disk. A file that cannot be read or is
// empty (a Secret update caught half-way, a key removed) changes nothing:
// the credentials in force stay until a usable value appears, and the
// problem is logged (never the value).
func (c *credentialFiles) reload() {
	if c.tokenFile != "" {
		if b, err := os.ReadFile(c.tokenFile); err != nil {
			c.log("cannot re-read the callback token file; keeping the token in force", "file", c.tokenFile, "error", err.Error())
		} else if !bytes.Equal(b, c.lastToken) {
			if token := callbacksign.TokenFrom(b); token == "" {
				c.log("the callback token file is empty; keeping the token in force", "file", c.tokenFile)
			} else if app, _, ok := c.reg.Lookup(apps.DefaultName); ok {
				next := *app
				next.Tokens, next.SkipAuth = []string{token}, false
				c.reg.Set(next)
				c.lastToken = b
				c.log("callback token reloaded", "file", c.tokenFile)
			}
		}
	}
	if c.keyFile != "" && c.client != nil {
		if b, err := os.ReadFile(c.keyFile); err != nil {
			c.log("cannot re-read the secret key file; keeping the key in force", "file", c.keyFile, "error", err.Error())
		} else if !bytes.Equal(b, c.lastKey) {
			key := tim.SecretKeyFrom(b)
			if err := c.client.SetSecretKey(key); err != nil {
				c.log("the secret key file holds no usable key; keeping the key in force", "file", c.keyFile, "error", err.Error())
			} else {
				c.lastKey = b
				if app, _, ok := c.reg.Lookup(apps.DefaultName); ok {
					// Tells the controller: ChatGroups IM refused with the
					// old key may try again now.
					next := *app
					next.CredentialsVersion = apps.CredentialsVersion(key)
					c.reg.Set(next)
				}
				c.log("secret key reloaded", "file", c.keyFile)
			}
		}
	}
}
