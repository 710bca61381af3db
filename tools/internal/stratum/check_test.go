package stratum

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A server that answers the subscription but sends no work is "waiting for
// a wallet" (a warning: a new pool's wallets are downloading the chain);
// one that does not answer at all is broken.
func TestCheckTellsNoWorkFromBroken(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		noWork bool
		ok     bool
	}{
		{"answers and notifies", `{"id":1,"result":[[],"00",4],"error":null}` + "\n" + `{"id":null,"method":"mining.notify","params":[]}` + "\n", false, true},
		{"answers, no work yet", `{"id":1,"result":[[],"00",4],"error":null}` + "\n", true, false},
		{"refuses the subscription", `{"id":1,"result":null,"error":[20,"no",null]}` + "\n", false, false},
		{"says nothing", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer l.Close()
			go func() {
				conn, err := l.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
				_, _ = bufio.NewReader(conn).ReadBytes('\n')
				_, _ = conn.Write([]byte(tc.answer))
				// Hold the connection until the check gives up.
				_, _ = conn.Read(make([]byte, 1))
			}()
			err = Check(context.Background(), l.Addr().String(), 300*time.Millisecond)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tc.noWork, errors.Is(err, ErrNoWork), err.Error())
		})
	}
}
