package cli

import (
	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
)

// connFlags are the Nomad and Consul connection flags. They have no
// defaults of their own: left unset, the nomad and consul API libraries
// read NOMAD_ADDR, NOMAD_TOKEN, NOMAD_CACERT, NOMAD_CLIENT_CERT,
// NOMAD_CLIENT_KEY, NOMAD_TLS_SERVER_NAME, NOMAD_SKIP_VERIFY, NOMAD_REGION,
// NOMAD_NAMESPACE, CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, CONSUL_CACERT,
// CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY, CONSUL_TLS_SERVER_NAME and
// CONSUL_HTTP_SSL_VERIFY, exactly as the nomad and consul CLIs do.
func connFlags() []cli.Flag {
	const nomad, consul = "Nomad", "Consul"
	return []cli.Flag{
		&cli.StringFlag{Name: "address", Category: nomad, Usage: "Nomad HTTP API address (default $NOMAD_ADDR or http://127.0.0.1:4646)"},
		&cli.StringFlag{Name: "region", Category: nomad, Usage: "Nomad region (default $NOMAD_REGION)"},
		&cli.StringFlag{Name: "namespace", Category: nomad, Usage: "Nomad namespace (default $NOMAD_NAMESPACE)"},
		&cli.StringFlag{Name: "token", Category: nomad, Usage: "Nomad ACL token (default $NOMAD_TOKEN)"},
		&cli.StringFlag{Name: "ca-cert", Category: nomad, Usage: "CA certificate for Nomad's TLS (default $NOMAD_CACERT)"},
		&cli.StringFlag{Name: "client-cert", Category: nomad, Usage: "client certificate for Nomad's TLS (default $NOMAD_CLIENT_CERT)"},
		&cli.StringFlag{Name: "client-key", Category: nomad, Usage: "client key for Nomad's TLS (default $NOMAD_CLIENT_KEY)"},
		&cli.StringFlag{Name: "tls-server-name", Category: nomad, Usage: "server name for Nomad's TLS (default $NOMAD_TLS_SERVER_NAME)"},
		&cli.BoolFlag{Name: "tls-skip-verify", Category: nomad, Usage: "do not verify Nomad's TLS certificate (default $NOMAD_SKIP_VERIFY)"},
		&cli.StringFlag{Name: "consul-address", Category: consul, Usage: "Consul HTTP API address (default $CONSUL_HTTP_ADDR or 127.0.0.1:8500)"},
		&cli.StringFlag{Name: "consul-token", Category: consul, Usage: "Consul ACL token (default $CONSUL_HTTP_TOKEN)"},
		&cli.StringFlag{Name: "consul-ca-cert", Category: consul, Usage: "CA certificate for Consul's TLS (default $CONSUL_CACERT)"},
		&cli.StringFlag{Name: "consul-client-cert", Category: consul, Usage: "client certificate for Consul's TLS (default $CONSUL_CLIENT_CERT)"},
		&cli.StringFlag{Name: "consul-client-key", Category: consul, Usage: "client key for Consul's TLS (default $CONSUL_CLIENT_KEY)"},
		&cli.StringFlag{Name: "consul-tls-server-name", Category: consul, Usage: "server name for Consul's TLS (default $CONSUL_TLS_SERVER_NAME)"},
		&cli.BoolFlag{Name: "consul-tls-skip-verify", Category: consul, Usage: "do not verify Consul's TLS certificate"},
	}
}

func connOptions(c *cli.Context) deploy.ConnOptions {
	return deploy.ConnOptions{
		NomadAddress: c.String("address"), NomadRegion: c.String("region"),
		NomadNamespace: c.String("namespace"), NomadToken: c.String("token"),
		NomadCACert: c.String("ca-cert"), NomadClientCert: c.String("client-cert"),
		NomadClientKey: c.String("client-key"), NomadTLSServerName: c.String("tls-server-name"),
		NomadTLSSkipVerify: c.Bool("tls-skip-verify"),
		ConsulAddress:      c.String("consul-address"), ConsulToken: c.String("consul-token"),
		ConsulCACert: c.String("consul-ca-cert"), ConsulClientCert: c.String("consul-client-cert"),
		ConsulClientKey: c.String("consul-client-key"), ConsulTLSServerName: c.String("consul-tls-server-name"),
		ConsulTLSSkipVerify: c.Bool("consul-tls-skip-verify"),
	}
}

// taskConnOptions are connOptions for the pool's own long-running
// processes: a request Consul refuses is reported once, in one line, on
// the task's log, as the process retries it.
func taskConnOptions(c *cli.Context) deploy.ConnOptions {
	o := connOptions(c)
	o.ReportDenied = c.App.ErrWriter
	return o
}
