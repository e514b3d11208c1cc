package webhookserver

import (
	"context"
	"fmt"
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

var _ = Describe("discovery", func() {
	It("keeps to DiscoveryMaxGroups when a burst of new groups calls before any ChatGroup exists", func() {
		const maxGroups, burst = 5, 30
		ns := newNamespace()
		// A slow writer: the burst is all in before the first ChatGroup is
		// created, so only what targets admits can hold the cap.
		r := startReceiver(Options{Token: testToken, DiscoveryNamespace: ns, DiscoveryMaxGroups: maxGroups,
			DiscoveryPerMinute: 100000, WriteQPS: 2, WriteBurst: 1})
		defer r.stop()
		var m dto.Metric
		Expect(discoveryRefused.WithLabelValues(apps.DefaultName, "max_groups").Write(&m)).To(Succeed())
		before := m.GetCounter().GetValue()
		for i := range burst {
			code, env := r.post(http.MethodPost, query(CmdAfterSendMsg), mustJSON(CmdAfterSendMsg, map[string]any{
				"GroupId": fmt.Sprintf("@TGS#burst-%02d", i), "Type": "Public", "MsgSeq": 1, "From_Account": "x"}))
			Expect(code).To(Equal(http.StatusOK), "%+v", env)
		}
		Expect(r.srv.writer.Pending()).To(BeNumerically("<=", maxGroups))
		settle(r)
		list := &imv1alpha1.ChatGroupList{}
		Expect(k8sClient.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
		Expect(list.Items).To(HaveLen(maxGroups))
		Expect(discoveryRefused.WithLabelValues(apps.DefaultName, "max_groups").Write(&m)).To(Succeed())
		Expect(m.GetCounter().GetValue() - before).To(BeEquivalentTo(burst - maxGroups))
	})
})
