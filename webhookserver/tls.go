package webhookserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// Names of the certificate and key in Options.CertDir: those of a
// kubernetes.io/tls Secret, which is what cert-manager writes.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// newCertWatcher reads dir's certificate and key once, so that a missing or
// broken pair stops the manager at start with the path in the message, and
// returns the watcher that re-reads them when they change (fsnotify, and a
// poll every 10 s for the symlink swaps of a mounted Secret). An empty dir
// means plain HTTP.
func newCertWatcher(dir string) (*certwatcher.CertWatcher, error) {
	if dir == "" {
		return nil, nil
	}
	cw, err := certwatcher.New(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("webhookserver: reading the TLS certificate in %s: %w", dir, err)
	}
	return cw, nil
}

// serveTLS starts the watcher for ctx's lifetime and wraps ln so that
// every handshake gets the certificate read last: a rotated certificate is
// served to new connections without a restart.
func (s *Server) serveTLS(ctx context.Context, ln net.Listener) net.Listener {
	go func() {
		if err := s.certs.Start(ctx); err != nil {
			s.log.Error(err, "watching the TLS certificate; the one read last is still served")
		}
	}()
	return tls.NewListener(ln, &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.certs.GetCertificate,
	})
}
