package poolweb

import (
	"net"
	"net/http"
	"sort"
	"strconv"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
)

// startCoin is how to mine one coin of the pool.
type startCoin struct {
	Coin  poolapi.Coin
	Ports []startPort
}

// startPort is one stratum port and the lines that mine on it.
type startPort struct {
	poolapi.Port
	Host string
	URL  string // stratum+tcp://HOST:PORT
}

// placeholderHost stands for the pool's address when the site cannot
// tell it.
const placeholderHost = "POOL_HOST"

// GET /start: where to point a miner and how.
func (p *pages) start(w http.ResponseWriter, r *http.Request) (string, view, error) {
	if _, err := parseParams(r); err != nil {
		return "", view{}, err
	}
	var coins []startCoin
	for _, c := range p.cfg.Coins {
		sc := startCoin{Coin: c}
		for _, port := range c.Ports {
			host := port.ListenAddress
			if unspecified(host) {
				host = requestHost(r)
			}
			sp := startPort{Port: port, Host: host}
			sp.URL = "stratum+tcp://" + net.JoinHostPort(host, strconv.Itoa(port.Port))
			sc.Ports = append(sc.Ports, sp)
		}
		sort.Slice(sc.Ports, func(i, j int) bool { return sc.Ports[i].Port.Port < sc.Ports[j].Port.Port })
		coins = append(coins, sc)
	}
	return "start", view{Title: "Start mining", Nav: "start", Data: coins}, nil
}

// unspecified says whether a stratum port listens on every address,
// which says nothing of the one miners should use.
func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// requestHost is the host the visitor reached the site by, when it is a
// plain host name or IP address (the same machines serve stratum), else
// a placeholder.
func requestHost(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	if host == "" || len(host) > 253 {
		return placeholderHost
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return placeholderHost
		}
	}
	return host
}
