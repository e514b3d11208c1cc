package webhookserver

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The status-write budget (--status-write-qps) is the deployment's, not each
// replica's: every replica receives callbacks, and N replicas each writing at
// the full rate would put N times the load on the API server that the
// setting promised. Each replica holds a Lease in the operator's namespace,
// labelled LabelReceiver and renewed every ShareRenew; the live ones (renewed
// within their duration) are counted, and each replica writes at
// total / count. A replica that cannot count (no namespace, API errors) uses
// total / ExpectedReplicas, the chart's replica count.

// LabelReceiver marks the receivers' Leases.
const LabelReceiver = "im.chatgroup.dev/receiver"

// receiverLeasePrefix starts the name of each replica's Lease.
const receiverLeasePrefix = "chatgroup-receiver-"

// Defaults of the sharing.
const (
	DefaultShareRenew = 10 * time.Second
	// A Lease not renewed for three renewals is a replica gone.
	shareTTLRenewals = 3
)

var writeShare = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "chatgroup_webhook_status_write_qps",
	Help: "This replica's share of --status-write-qps: the configured rate divided by the live receivers (or by --expected-replicas when they cannot be counted).",
})

func init() { metrics.Registry.MustRegister(writeShare) }

// share keeps this replica's part of the write budget up to date.
type share struct {
	reader    client.Reader // uncached: Leases must not start a cluster-wide informer
	c         client.Client // writes
	namespace string
	identity  string
	total     float64
	burst     int
	expected  int
	renew     time.Duration
	now       func() time.Time
	set       func(qps float64, burst int)
	log       logr.Logger
	last      int // the receivers counted last time (0: none yet)
}

// split is a replica's share of a rate and burst among n receivers.
func split(total float64, burst, n int) (float64, int) {
	n = max(1, n)
	return total / float64(n), max(1, int(math.Ceil(float64(burst)/float64(n))))
}

// Start renews the Lease and re-divides the budget until ctx ends, then
// gives the Lease up, so the others take the freed share at their next
// renewal rather than after it expires.
func (s *share) Start(ctx context.Context) error {
	s.apply(s.expected)
	if s.namespace == "" {
		s.log.Info("status-write budget: no namespace to count the receivers in; dividing by --expected-replicas", "replicas", s.expected)
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(s.renew)
	defer t.Stop()
	for {
		s.tick(ctx)
		select {
		case <-ctx.Done():
			s.release()
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection is false: every replica writes status.
func (s *share) NeedLeaderElection() bool { return false }

func (s *share) tick(ctx context.Context) {
	n, err := s.count(ctx)
	if err != nil {
		s.log.Error(err, "status-write budget: cannot count the receivers; dividing by --expected-replicas", "replicas", s.expected)
		n = s.expected
	}
	s.apply(n)
}

func (s *share) apply(n int) {
	if n == s.last {
		return
	}
	s.last = n
	qps, burst := split(s.total, s.burst, n)
	s.set(qps, burst)
	writeShare.Set(qps)
	s.log.Info("status-write budget divided", "receivers", n, "qps", qps, "burst", burst)
}

// count renews this replica's Lease and counts the live ones, itself
// included.
func (s *share) count(ctx context.Context) (int, error) {
	now := s.now()
	ttl := int32(math.Ceil((s.renew * shareTTLRenewals).Seconds()))
	name := receiverLeasePrefix + s.identity
	lease := &coordinationv1.Lease{}
	err := s.reader.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: name}, lease)
	switch {
	case apierrors.IsNotFound(err):
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: name,
			Labels: map[string]string{LabelReceiver: "true"}}}
		lease.Spec = leaseSpec(s.identity, now, ttl)
		if err := s.c.Create(ctx, lease); err != nil {
			return 0, fmt.Errorf("creating the receiver Lease: %w", err)
		}
	case err != nil:
		return 0, fmt.Errorf("reading the receiver Lease: %w", err)
	default:
		lease.Spec = leaseSpec(s.identity, now, ttl)
		if err := s.c.Update(ctx, lease); err != nil {
			return 0, fmt.Errorf("renewing the receiver Lease: %w", err)
		}
	}
	var list coordinationv1.LeaseList
	if err := s.reader.List(ctx, &list, client.InNamespace(s.namespace), client.MatchingLabels{LabelReceiver: "true"}); err != nil {
		return 0, fmt.Errorf("listing the receiver Leases: %w", err)
	}
	live := 0
	for _, l := range list.Items {
		if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
			continue
		}
		if l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second).After(now) {
			live++
		}
	}
	return max(1, live), nil
}

func leaseSpec(identity string, now time.Time, ttl int32) coordinationv1.LeaseSpec {
	t := metav1.NewMicroTime(now)
	return coordinationv1.LeaseSpec{HolderIdentity: &identity, RenewTime: &t, LeaseDurationSeconds: &ttl}
}

// release deletes this replica's Lease on the way out.
func (s *share) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: receiverLeasePrefix + s.identity}}
	if err := s.c.Delete(ctx, lease); err != nil && !apierrors.IsNotFound(err) {
		s.log.Error(err, "giving up the receiver Lease (it expires by itself)")
	}
}
