// Command pause is the pod sandbox's process, like registry.k8s.io/pause: it
// holds the pod's namespaces open, reaps the zombies it inherits as PID 1, and
// exits on SIGINT or SIGTERM. The real-cluster tests pack it into the
// localhost/pause image (hack/ociimage) that containerd uses as sandbox_image,
// since these machines reach no registry.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (chatgroup-operator hack/pause)")
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for { // reap every child that has exited
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
