package demo

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		listen  string
		wantErr string // "" = valid
	}{
		{name: "ipv4 loopback", listen: "127.0.0.1:8081"},
		{name: "free port", listen: "127.0.0.1:0"},
		{name: "other 127/8 address", listen: "127.1.2.3:80"},
		{name: "ipv6 loopback", listen: "[::1]:0"},
		{name: "localhost", listen: "localhost:8081"},
		{name: "localhost upper case", listen: "LOCALHOST:8081"},
		{name: "empty", listen: "", wantErr: "listen: required"},
		{name: "all interfaces", listen: ":8081", wantErr: "not a loopback address"},
		{name: "unspecified v4", listen: "0.0.0.0:8081", wantErr: "not a loopback address"},
		{name: "unspecified v6", listen: "[::]:8081", wantErr: "not a loopback address"},
		{name: "private address", listen: "10.0.0.1:8081", wantErr: "not a loopback address"},
		{name: "host name", listen: "example.com:8081", wantErr: "not a loopback address"},
		{name: "no port", listen: "127.0.0.1", wantErr: "missing port"},
		{name: "named port", listen: "127.0.0.1:http", wantErr: "is not a number"},
		{name: "port too big", listen: "127.0.0.1:65536", wantErr: "is not a number"},
		{name: "signed port", listen: "127.0.0.1:+80", wantErr: "is not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Config{Listen: tt.listen})
			if tt.wantErr == "" {
				if err != nil || s == nil {
					t.Fatalf("New(%q) = %v, %v; want a server", tt.listen, s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New(%q) error = %v; want it to contain %q", tt.listen, err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "listen: ") {
				t.Errorf("error %q lacks the package and field prefix", err)
			}
		})
	}
}
