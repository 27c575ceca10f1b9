package authcheck

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the whole auth check of one proxy.
type Report struct {
	// Proxy names the proxy (pod.namespace); set by the caller.
	Proxy string `json:"proxy,omitempty"`
	// NodeIPs are the pod IPs the dump's bootstrap names.
	NodeIPs []string `json:"nodeIPs,omitempty"`
	// Sidecar: the dump has an inbound listener (a gateway or a client-only proxy may not).
	Sidecar      bool              `json:"sidecar"`
	Inbound      []InboundPort     `json:"inbound"`
	Outbound     []OutboundCluster `json:"outbound"`
	Certificates []Certificate     `json:"certificates"`
	// Listeners and Clusters count what the dump holds, for the "Checked n/m" lines.
	Listeners int `json:"listeners"`
	Clusters  int `json:"clusters"`
}

// Analyze runs every check on a dump.
func Analyze(proxy string, d *Dump) (*Report, error) {
	r := &Report{Proxy: proxy, Listeners: len(d.Listeners), Clusters: len(d.Clusters),
		Inbound: []InboundPort{}, Outbound: []OutboundCluster{}, Certificates: []Certificate{}}
	for _, ip := range d.NodeIPs {
		r.NodeIPs = append(r.NodeIPs, ip.String())
	}
	if d.inboundListener() != nil {
		r.Sidecar = true
		in, err := d.InboundPorts()
		if err != nil {
			return nil, err
		}
		r.Inbound = in
	}
	out, err := d.Outbound()
	if err != nil {
		return nil, err
	}
	if out != nil {
		r.Outbound = out
	}
	certs, err := d.Certificates()
	if err != nil {
		return nil, err
	}
	if certs != nil {
		r.Certificates = certs
	}
	return r, nil
}

// WriteJSON writes reports as one indented JSON array.
func WriteJSON(w io.Writer, reports []*Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(reports)
}

// WriteTable prints the report as seed 002 showed `istioctl exp auth check`: listeners with
// their certificate and mTLS mode (a PERMISSIVE port shows its mTLS chain [0] and its
// plaintext chain [1]), outbound clusters with certificate and peer validation, then the
// workload certificates.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 5, ' ', 0)
	if r.Proxy != "" {
		fmt.Fprintf(tw, "Proxy %s\n", r.Proxy)
	}
	node := "unknown"
	if len(r.NodeIPs) > 0 {
		node = r.NodeIPs[0]
	}
	if r.Sidecar {
		fmt.Fprintf(tw, "Checked %d/%d listeners with node IP %s.\n", len(r.Inbound), r.Listeners, node)
		fmt.Fprintln(tw, "LISTENER\tCERTIFICATE\tmTLS (MODE)\t")
		for _, p := range r.Inbound {
			name := listenerLabel(node, p.Port)
			if p.Mode == ModePermissive {
				fmt.Fprintf(tw, "%s[0]\t%s\tyes (%s)\t\n", name, p.Certificate, p.Mode)
				fmt.Fprintf(tw, "%s[1]\tnone\tno (%s)\t\n", name, p.Mode)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s (%s)\t\n", name, p.Certificate, yesNo(p.AcceptsMTLS), p.Mode)
		}
	} else {
		fmt.Fprintf(tw, "No inbound listener: not a sidecar (%d listeners).\n", r.Listeners)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "Checked %d/%d outbound clusters.\n", len(r.Outbound), r.Clusters)
	fmt.Fprintln(tw, "HOST:PORT\tCERTIFICATE\tVALIDATE PEER\tSENDS\t")
	for _, c := range r.Outbound {
		hp := shortHost(c.Host) + ":" + strconv.Itoa(c.Port)
		if c.Subset != "" {
			hp += " (" + c.Subset + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", hp, c.Certificate, validatePeer(c), sendsLabel(c))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "SECRET\tSPIFFE ID\tNOT BEFORE\tNOT AFTER\tVALIDITY\tISSUER\t")
	for _, c := range r.Certificates {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", c.Secret, orNone(c.SPIFFE),
			c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339), c.Validity, orNone(c.Issuer))
	}
	return tw.Flush()
}

// listenerLabel names a port the way istioctl did: <pod IP>_<port>; "*" for all other ports.
func listenerLabel(node string, port int) string {
	if port == 0 {
		return node + "_*"
	}
	return node + "_" + strconv.Itoa(port)
}

// shortHost drops the cluster domain like the seed's table (httpbin.foo, not
// httpbin.foo.svc.cluster.local).
func shortHost(h string) string {
	if i := strings.Index(h, ".svc."); i >= 0 {
		return h[:i]
	}
	return h
}

func validatePeer(c OutboundCluster) string {
	switch {
	case !c.ValidatePeer:
		return "none"
	case len(c.PeerSANs) == 0:
		return "yes"
	default:
		return strings.Join(c.PeerSANs, ",")
	}
}

// sendsLabel: for auto mTLS with endpoint data, what each endpoint gets.
func sendsLabel(c OutboundCluster) string {
	if c.Sends != SendsAutoMTLS || len(c.Endpoints) == 0 {
		return string(c.Sends)
	}
	parts := make([]string, len(c.Endpoints))
	for i, e := range c.Endpoints {
		mode := "plaintext"
		if e.MTLS {
			mode = "mTLS"
		}
		parts[i] = e.Address + "=" + mode
	}
	return string(c.Sends) + " (" + strings.Join(parts, ",") + ")"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
