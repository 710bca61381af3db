package stratum

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ListenFloating listens on the pool's floating address whether or not
// the address is on this node now (IP_FREEBIND): keepalived adds it to the
// node's interface when the node takes it over, and from that moment
// miners connecting to it reach this socket, with no restart and no
// address juggling by the server.
func ListenFloating(ctx context.Context, hostport string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	l, err := lc.Listen(ctx, "tcp4", hostport)
	if err != nil {
		return nil, fmt.Errorf("listen for miners on the floating address %s: %w", hostport, err)
	}
	return l, nil
}

// ListenMiners listens where miners connect: listen (the node's address,
// host:port) and, when floating is set (host:port, see FloatingHostport),
// the floating address too, as one listener.
func ListenMiners(ctx context.Context, listen, floating string) (net.Listener, error) {
	var lc net.ListenConfig
	node, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("listen for miners on %s: %w", listen, err)
	}
	if floating == "" {
		return node, nil
	}
	fl, err := ListenFloating(ctx, floating)
	if err != nil {
		node.Close()
		return nil, err
	}
	return newMultiListener(node, fl), nil
}

// FloatingHostport is where miners reach the floating address: its host
// and the port of listen (host:port). "" when there is no floating address.
func FloatingHostport(floating, listen string) (string, error) {
	if floating == "" {
		return "", nil
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	return net.JoinHostPort(floating, port), nil
}

// multiListener accepts from several listeners as one, so that one Serve
// loop (one set of limits, one shutdown) takes miners from the node's
// address and from the floating address alike.
type multiListener struct {
	ls     []net.Listener
	conns  chan net.Conn
	errs   chan error
	closed chan struct{}
	once   sync.Once
}

func newMultiListener(ls ...net.Listener) net.Listener {
	m := &multiListener{ls: ls, conns: make(chan net.Conn), errs: make(chan error), closed: make(chan struct{})}
	for _, l := range ls {
		go m.accept(l)
	}
	return m
}

func (m *multiListener) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case m.errs <- err:
			case <-m.closed:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		select {
		case m.conns <- c:
		case <-m.closed:
			c.Close()
			return
		}
	}
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errs:
		return nil, err
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

func (m *multiListener) Close() error {
	var err error
	m.once.Do(func() {
		close(m.closed)
		for _, l := range m.ls {
			err = errors.Join(err, l.Close())
		}
	})
	return err
}

// Addr is the first listener's: the node's own address.
func (m *multiListener) Addr() net.Addr { return m.ls[0].Addr() }
